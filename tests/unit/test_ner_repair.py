"""Organisation spans end at the name: legal forms, sentence ends, words that are never names."""

from __future__ import annotations

import pytest

from nlu.ner import RULE_EXTRACTOR, repair_organizations, repair_people
from nlu.types import Entity

# What the training data would teach as "words used outside names", plus stop words.
STOP = frozenset(
    {"wants", "add", "a", "note", "demo", "bei", "the", "with", "der", "von", "mit", "deal", "at", "hat", "heute",
     "telefoniert", "move", "to", "proposal", "show", "me", "contacts", "and", "und", "angerufen", "mehl"}
)  # fmt: skip


PEOPLE_STOP = frozenset(
    {"from", "what's", "email", "called", "just", "fair", "is", "expanding", "ist", "jetzt", "mit"}
)


def _org(text: str, surface: str) -> Entity:
    start = text.index(surface)
    return Entity("organization", surface, start, start + len(surface), "ner")


def _values(text: str, entities: list[Entity]) -> list[str]:
    found = repair_organizations(text, entities, STOP)
    for e in found:
        assert text[e.start : e.end] == e.value
    return [e.value for e in found]


@pytest.mark.parametrize(
    ("text", "proposed", "expected"),
    [
        ("Nordlicht Energie GmbH wants a demo", "Nordlicht Energie GmbH wants", "Nordlicht Energie GmbH"),
        ("Solvex Group. add a note", "Solvex Group. add", "Solvex Group"),
        (
            "Termin bei Hollerbach Präzisionsteile AG heute",
            "Präzisionsteile AG",
            "Hollerbach Präzisionsteile AG",
        ),
        (
            "Brezina Holzbau GmbH & Co. KG hat angerufen",
            "Brezina Holzbau GmbH",
            "Brezina Holzbau GmbH & Co. KG",
        ),
        ("mit Lunde Maskin AS telefoniert", "Lunde Maskin", "Lunde Maskin AS"),
        ("the Acme Inc. deal", "Acme Inc.", "Acme Inc."),
    ],
)
def test_model_spans_are_repaired(text: str, proposed: str, expected: str) -> None:
    assert _values(text, [_org(text, proposed)]) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mit Górski Meble Sp. z o.o. telefoniert", "Górski Meble Sp. z o.o."),
        ("show me contacts at wendlandt feinmechanik gmbh", "wendlandt feinmechanik gmbh"),
        ("move Hafslund Datatjenester AS to proposal", "Hafslund Datatjenester AS"),
        ("Apfel und Birne Kelterei e.V. hat angerufen", "Apfel und Birne Kelterei e.V."),
        ("the Holt, Fenwick & Rowe LLP deal", "Fenwick & Rowe LLP"),
    ],
)
def test_names_before_a_legal_form_are_organisations_the_model_missed(text: str, expected: str) -> None:
    found = repair_organizations(text, [], STOP)
    assert [(e.value, e.extractor) for e in found] == [(expected, RULE_EXTRACTOR)]


def test_words_that_only_look_like_legal_forms_are_not() -> None:
    assert repair_organizations("5 kg Mehl bei der und AG", [], STOP) == []
    assert repair_organizations("move it as soon as possible", [], STOP) == []


def test_a_person_before_the_firm_stays_a_person() -> None:
    text = "mit Anna Kowalska Górski Meble Sp. z o.o."
    person = Entity("person", "Anna Kowalska", 4, 17, "ner")
    found = repair_organizations(text, [person], STOP)
    assert [(e.entity, e.value) for e in found] == [
        ("person", "Anna Kowalska"),
        ("organization", "Górski Meble Sp. z o.o."),
    ]


def test_without_context_words_nothing_changes() -> None:
    text = "Nordlicht Energie GmbH wants a demo"
    proposed = [_org(text, "Nordlicht Energie GmbH wants")]
    assert repair_organizations(text, proposed, frozenset()) == proposed


@pytest.mark.parametrize(
    ("text", "proposed", "expected"),
    [
        ("just called Marit Solberg from Acme", "Marit Solberg from", "Marit Solberg"),
        ("met Dr. Henrike Albers-Voß at the fair", "Dr. Henrike", "Dr. Henrike Albers-Voß"),
        ("what's Ingeborg Tveit's email?", "Ingeborg Tveit's", "Ingeborg Tveit"),
        ("called Tadeusz Zieliński - Sokół is expanding", "Tadeusz Zieliński - Sokół", "Tadeusz Zieliński"),
    ],
)
def test_person_spans_are_repaired(text: str, proposed: str, expected: str) -> None:
    start = text.index(proposed)
    found = repair_people(
        text, [Entity("person", proposed, start, start + len(proposed), "ner")], STOP | PEOPLE_STOP
    )
    assert [e.value for e in found if e.entity == "person"] == [expected]


def test_capitalised_names_nothing_claimed_are_people() -> None:
    stop = STOP | PEOPLE_STOP
    found = repair_people("Wiebke Tjarks ist jetzt Leiterin Vertrieb", [], stop | {"leiterin", "vertrieb"})
    assert [(e.entity, e.value, e.extractor) for e in found] == [("person", "Wiebke Tjarks", RULE_EXTRACTOR)]
    found = repair_people("Termin mit Herr Quandtmeyer heute", [], stop | {"termin"})
    assert [e.value for e in found] == ["Herr Quandtmeyer"]
    assert repair_people("Termin heute", [], stop | {"termin"}) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Termin beim Autohaus am Ring heute", "Autohaus am Ring"),
        ("Gebrüder Brenner AG hat angerufen", "Gebrüder Brenner AG"),
        ("Praxis Dr. Kranich hat angerufen", "Praxis Dr. Kranich"),
        ("Lumière SA hat angerufen", "Lumière SA"),
    ],
)
def test_opening_words_and_more_legal_forms_make_organisations(text: str, expected: str) -> None:
    assert [e.value for e in repair_organizations(text, [], STOP | {"beim", "termin"})] == [expected]


def test_an_opening_word_alone_is_no_organisation() -> None:
    assert repair_organizations("the Hotel is nice, Autohaus am heute", [], STOP | {"is", "nice"}) == []
