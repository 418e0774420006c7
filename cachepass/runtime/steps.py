"""The step record every method's runtime keeps per call (`state.history`), for reports, the bench and tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepRecord:
    """What every step record starts with; a method's record adds what it decided and ran, and defines
    `variant` (the name its report and the bench show for the step), `reused` (what the step did not compute,
    for report.schedule_line) and, when a step runs other than one compiled graph, `pieces`."""

    graph: int  # serial of the graph that ran the call
    generation: int
    iteration: int
    timestep: float

    @property
    def variant(self) -> str:
        raise NotImplementedError

    @property
    def pieces(self) -> tuple[str, ...]:
        """The compiled graphs the step ran (one by default: its variant)."""
        return (self.variant,)
