"""The time estimate of a warm-up or a training (nlu.progress), on a stepped clock."""

from __future__ import annotations

from nlu.progress import LOADING, PHASES, Estimate, PhaseClock


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_estimate_counts_down_and_follows_the_machine_speed() -> None:
    clock = Clock()
    expected = {"embedding": 10.0, "intents": 10.0, "entities": 20.0, "saving": 1.0, LOADING: 10.0}
    estimate = Estimate(PHASES, expected, clock=clock)
    assert estimate.remaining_seconds() == 51.0
    clock.now = 5.0
    assert estimate.remaining_seconds() == 46.0  # no news from inside the phase: its time runs down
    clock.now = 20.0  # embedding took twice as long as expected: the rest will too
    estimate.update("intents", 0.0)
    assert estimate.remaining_seconds() == 82.0
    clock.now = 40.0
    estimate.update("entities", 0.0)
    clock.now = 50.0
    estimate.update("entities", 0.5)  # half of the epochs in 10 s: 10 s more
    assert 0.3 < estimate.done_fraction() < 0.7
    speed = (40.0 + 10.0) / (20.0 + 10.0)
    assert abs(estimate.remaining_seconds() - (10.0 + (1.0 + 10.0) * speed)) < 1e-9
    clock.now = 60.0
    estimate.update(LOADING, 0.0)  # "saving" skipped: counts as done
    assert estimate.remaining_seconds() >= 1.0
    assert estimate.done_fraction() < 1.0


def test_a_first_run_uses_the_measured_defaults_and_unknown_phases_are_ignored() -> None:
    estimate = Estimate((LOADING,), None, clock=Clock())
    assert estimate.remaining_seconds() == 8.0
    estimate.update("no-such-phase", 0.5)
    assert estimate.phase == LOADING


def test_the_phase_clock_keeps_the_seconds_of_each_phase_and_passes_the_calls_on() -> None:
    clock, heard = Clock(), []
    phases = PhaseClock(lambda phase, fraction: heard.append((phase, fraction)), clock=clock)
    phases("embedding")
    clock.now = 3.0
    phases("entities", 0.5)
    clock.now = 7.0
    phases("entities", 1.0)
    assert phases.finish() == {"embedding": 3.0, "entities": 4.0}
    assert heard == [("embedding", 0.0), ("entities", 0.5), ("entities", 1.0)]
