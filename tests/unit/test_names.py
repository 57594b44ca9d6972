"""Name generators for NER augmentation: varied, deterministic, legal forms recognised."""

from __future__ import annotations

import random

import pytest

from nlu.names import ALL_LEGAL_FORMS, job_title, legal_form_pattern, organization_name, person_name, restyle


@pytest.mark.parametrize("language", ["en", "de"])
def test_generators_are_varied_and_deterministic(language: str) -> None:
    first = [organization_name(random.Random(seed), language) for seed in range(300)]
    again = [organization_name(random.Random(seed), language) for seed in range(300)]
    assert first == again
    assert len(set(first)) > 250
    people = {person_name(random.Random(seed), language) for seed in range(300)}
    titles = {job_title(random.Random(seed), language) for seed in range(300)}
    assert len(people) > 200 and len(titles) > 100
    pattern = legal_form_pattern()
    assert sum(bool(pattern.search(name)) for name in first) > 100  # many end in a legal form
    assert any("&" in name or " und " in name or " and " in name for name in first)
    assert any("-" in name for name in first)


def test_legal_forms_match_as_written_and_short_ones_only_in_capitals() -> None:
    pattern = legal_form_pattern()
    for form in ALL_LEGAL_FORMS:
        assert pattern.search(f"Beispiel {form}"), form
    assert pattern.search("harmsen logistik gmbh")
    assert pattern.search("Górski Meble Sp. z o.o.")
    assert not pattern.search("move it as soon as possible, ab Montag")
    assert not pattern.search("the Acmegmbh")


def test_restyle_writes_names_the_ways_reps_do() -> None:
    styles = {
        restyle("Seeberg Logistik GmbH", random.Random(seed), lower=0.3, upper=0.3) for seed in range(50)
    }
    assert styles == {"Seeberg Logistik GmbH", "seeberg logistik gmbh", "SEEBERG LOGISTIK GMBH"}
