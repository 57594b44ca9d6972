import random

from nlu.ner_augment import augment, substitute
from nlu.training_data import TrainingExample
from nlu.types import Entity


def _example() -> TrainingExample:
    text = "Just called Anna Schmidt from Acme, she wants a quote by Friday"
    return TrainingExample(
        text=text,
        intent="log_activity",
        entities=[
            Entity("activity_type", "call", 5, 11, "gold"),
            Entity("person", "Anna Schmidt", 12, 24, "gold"),
            Entity("organization", "Acme", 30, 34, "gold"),
            Entity("time", "Friday", 57, 63, "gold"),
        ],
    )


def test_substitute_replaces_names_and_shifts_the_other_spans() -> None:
    original = _example()
    for seed in range(50):
        new = substitute(original, random.Random(seed), lower=seed % 2 == 0)
        spans = {e.entity: new.text[e.start : e.end] for e in new.entities}
        assert spans["activity_type"] == "called"[:6]
        assert spans["time"] == "Friday"
        assert spans["person"] == next(e.value for e in new.entities if e.entity == "person")
        assert spans["organization"] == next(e.value for e in new.entities if e.entity == "organization")
        assert new.text.endswith("by Friday") and new.intent == "log_activity"
        if seed % 2 == 0:
            assert spans["person"] == spans["person"].lower()


def test_augment_copies_only_examples_with_names_and_is_deterministic() -> None:
    plain = TrainingExample(text="what's on my list today", intent="list_tasks")
    data = [_example(), plain]
    once, twice = augment(data, copies=2, seed=3), augment(data, copies=2, seed=3)
    assert len(once) == 4 and once[:2] == data
    assert [e.text for e in once] == [e.text for e in twice]
    assert all(ex.text != plain.text for ex in once[2:])
