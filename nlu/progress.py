"""How far training (or loading) the NLU model has come, and an honest estimate of what is left.

Training reports ``hook(phase, fraction)``: the phase it is in (:data:`PHASES`) and how much of that phase
is done (0..1). :class:`PhaseClock` turns those calls into the seconds each phase took (kept in the model's
metadata); :class:`Estimate` turns them into the seconds left: the previous run's phase times (or, on a
first run, :data:`DEFAULT_PHASE_SECONDS`), scaled by how fast this run has been so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

ProgressHook = Callable[[str, float], None]

LOADING = "loading"
PHASES: tuple[str, ...] = ("embedding", "intents", "entities", "saving", LOADING)
# A first run's guess, about 150 s in all (a whole training took 90 s on a quiet 2-core machine, the ONNX
# export of the bundled model included in "embedding"): pessimistic on purpose. After one training the
# model's own phase times replace it, and every run scales it by its own speed as phases finish.
DEFAULT_PHASE_SECONDS: dict[str, float] = {
    "embedding": 45.0,
    "intents": 20.0,
    "entities": 75.0,
    "saving": 3.0,
    LOADING: 8.0,
}


class PhaseClock:
    """Seconds spent per phase, from the same ``(phase, fraction)`` calls a :data:`ProgressHook` gets."""

    def __init__(
        self, hook: ProgressHook | None = None, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.hook = hook
        self.clock = clock
        self.seconds: dict[str, float] = {}
        self._phase: str | None = None
        self._since = 0.0

    def __call__(self, phase: str, fraction: float = 0.0) -> None:
        now = self.clock()
        if phase != self._phase:
            self._close(now)
            self._phase, self._since = phase, now
        if self.hook is not None:
            self.hook(phase, fraction)

    def finish(self) -> dict[str, float]:
        self._close(self.clock())
        self._phase = None
        return {k: round(v, 2) for k, v in self.seconds.items()}

    def _close(self, now: float) -> None:
        if self._phase is not None:
            self.seconds[self._phase] = self.seconds.get(self._phase, 0.0) + now - self._since


class Estimate:
    """Seconds left of a run of ``phases``, from the expected time of each phase.

    The phases still to come are scaled by how this run compares with the expectation so far (a busy machine
    is slower for every phase); a phase that reports its fraction done is extrapolated from its own rate.
    """

    def __init__(
        self,
        phases: tuple[str, ...],
        expected: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        known = {**DEFAULT_PHASE_SECONDS, **(expected or {})}
        self.phases = phases
        self.expected = {p: max(0.1, float(known.get(p, 1.0))) for p in phases}
        self.clock = clock
        self.started = clock()
        self.phase = phases[0]
        self.fraction = 0.0
        self._phase_started = self.started
        self._done_expected = 0.0
        self._done_actual = 0.0

    def update(self, phase: str, fraction: float) -> None:
        now = self.clock()
        if phase != self.phase and phase in self.expected:
            # every phase before the new one is over (a skipped phase counts as done in no time)
            index = self.phases.index(phase)
            for finished in self.phases[self.phases.index(self.phase) : index]:
                self._done_expected += self.expected[finished]
            self._done_actual += now - self._phase_started
            self.phase, self._phase_started = phase, now
        self.fraction = min(1.0, max(0.0, fraction))

    def remaining_seconds(self) -> float:
        index = self.phases.index(self.phase)
        expected_here = self.expected[self.phase]
        in_phase = self.clock() - self._phase_started
        if self.fraction > 0.0:  # the phase reports its own progress: its rate so far is the best guess
            left_here = in_phase * (1.0 - self.fraction) / self.fraction
            done_expected = self._done_expected + expected_here * self.fraction
            speed = (self._done_actual + in_phase) / done_expected if done_expected >= 1.0 else 1.0
        else:  # no news from inside this phase: what is left of its expected time
            speed = self._done_actual / self._done_expected if self._done_expected >= 1.0 else 1.0
            left_here = max(expected_here * speed - in_phase, expected_here * speed * 0.1)
        speed = max(0.25, speed)
        later = sum(self.expected[p] for p in self.phases[index + 1 :]) * speed
        return max(1.0, left_here + later)

    def done_fraction(self) -> float:
        total = sum(self.expected.values())
        index = self.phases.index(self.phase)
        before = sum(self.expected[p] for p in self.phases[:index])
        return min(0.99, (before + self.expected[self.phase] * self.fraction) / total)

    def elapsed_seconds(self) -> float:
        return self.clock() - self.started
