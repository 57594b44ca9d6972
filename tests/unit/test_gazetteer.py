"""Known names from the store: fuzzy, transliterated, refreshed, and a failing load loses nothing."""

from __future__ import annotations

from nlu.gazetteer import InMemoryGazetteer, RefreshingGazetteer


def test_many_known_names_and_the_best_match_wins() -> None:
    names = [("organization", f"Firma Nummer {i} GmbH") for i in range(3000)]
    names += [("organization", "Seidel Feinkost GmbH"), ("person", "Jürgen Müller")]
    gazetteer = InMemoryGazetteer(names)
    found = gazetteer.find("juergen mueller von seidel feinkost gmbh hat angerufen")
    assert [(e.entity, e.value, e.text) for e in found] == [
        ("person", "Jürgen Müller", "juergen mueller"),
        ("organization", "Seidel Feinkost GmbH", "seidel feinkost gmbh"),
    ]


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_refreshes_when_old_and_keeps_names_when_loading_fails() -> None:
    loads: list[list[tuple[str, str]]] = [
        [("organization", "Nordwind Logistik")],
        [("organization", "Solbakken AS")],
    ]
    calls = 0

    def load() -> list[tuple[str, str]]:
        nonlocal calls
        calls += 1
        if not loads:
            raise ConnectionError("store down")
        return loads.pop(0)

    clock = _Clock()
    gazetteer = RefreshingGazetteer(load, max_age=60, clock=clock)
    assert [e.value for e in gazetteer.find("called Nordwind Logistik")] == ["Nordwind Logistik"]
    clock.now = 30
    assert gazetteer.find("called Solbakken AS") == [] and calls == 1  # still fresh: no reload
    clock.now = 61
    assert [e.value for e in gazetteer.find("called Solbakken AS")] == ["Solbakken AS"]
    clock.now = 200
    assert [e.value for e in gazetteer.find("called Solbakken AS")] == ["Solbakken AS"]  # load failed: kept
    assert calls == 3
