"""Value accuracy: an annotated name counts as found when an entity of its type has its value."""

from __future__ import annotations

from nlu.evaluation import entity_value_accuracy, normalise_value
from nlu.types import Entity


def test_values_compare_without_case_and_whitespace() -> None:
    assert normalise_value("  Seidel  Feinkost GmbH ") == normalise_value("seidel feinkost gmbh")


def test_found_cut_wrong_type_and_spurious() -> None:
    text = "met Seidel Feinkost GmbH and Anna Roe, CFO, next friday"
    gold = [
        Entity("organization", "Seidel Feinkost GmbH", 4, 24, "gold"),
        Entity("person", "Anna Roe", 29, 37, "gold"),
        Entity("job_title", "CFO", 39, 42, "gold"),
        Entity("time", "next friday", 44, 55, "gold"),  # annotated as written: the surface is compared
    ]
    predicted = [
        Entity("organization", "feinkost gmbh", 11, 24, "ner"),  # cut: wrong
        Entity("organization", "Anna Roe", 29, 37, "ner"),  # wrong type: wrong, and spurious
        Entity("job_title", "cfo", 39, 42, "ner"),  # case does not matter
        Entity("time", "2026-03-13", 44, 55, "dates"),  # normalised value, same surface: found
    ]
    report = entity_value_accuracy([gold], [predicted], texts=[text])
    assert report["organization"] == {"accuracy": 0.0, "correct": 0, "n": 1, "spurious": 2}
    assert report["person"]["accuracy"] == 0.0
    assert report["job_title"]["accuracy"] == 1.0
    assert report["time"]["accuracy"] == 1.0
    assert report["overall"]["correct"] == 2 and report["overall"]["n"] == 4


def test_each_extracted_entity_counts_once_and_types_filter() -> None:
    gold = [Entity("person", "Kim", 0, 3, "gold"), Entity("person", "Kim", 8, 11, "gold")]
    predicted = [Entity("person", "Kim", 0, 3, "ner")]
    report = entity_value_accuracy([gold], [predicted], types=["person", "organization"])
    assert report["person"]["correct"] == 1 and report["person"]["n"] == 2
    assert report["organization"]["n"] == 0
    assert set(report) == {"person", "organization", "overall"}
