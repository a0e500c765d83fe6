"""The plan's training ETA, from a rate measured once the first log interval is behind.

A run's first log interval carries one-off costs: the CUDA graph's eager warm-up steps and
capture, the first calls into cuDNN or oneDNN, compilation. On an H200 the first 50 iterations
of the MNIST paper run took 0.77 s and the next 50 took 0.08 s, so a rate taken over the first
interval put the plan's training at six to nine times its length. The rate is therefore
measured between a run's first and second log rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainingRate:
    """Seconds per iteration, measured once per plan between the first two log rows of a run."""

    seconds_per_iteration: float | None = None
    last_iteration: int | None = None
    _first_row: tuple[int, float] | None = field(default=None, init=False, repr=False)

    def start_run(self) -> None:
        """Forget the log row of the previous run: its wall clock is not this run's (the row a
        measured rate came from is kept for its description)."""
        if self.seconds_per_iteration is None:
            self._first_row = None

    def observe(self, iteration: int, wall_seconds: float) -> bool:
        """Take one log row of the running run; True when this row completes the measurement.

        The rate is (wall_2 - wall_1) / (iteration_2 - iteration_1) over the run's first two
        rows; later rows, and every row once the rate is known, change nothing.
        """
        if self.seconds_per_iteration is not None:
            return False
        if self._first_row is None:
            self._first_row = (iteration, wall_seconds)
            return False
        first_iteration, first_wall = self._first_row
        if iteration <= first_iteration:
            raise ValueError(f"log rows out of order: iteration {iteration} after {first_iteration}")
        self.seconds_per_iteration = (wall_seconds - first_wall) / (iteration - first_iteration)
        self.last_iteration = iteration
        return True

    def describe(self, iterations_left: int) -> str:
        """The ETA line for ``iterations_left`` training iterations of the plan."""
        if self.seconds_per_iteration is None:
            raise ValueError("no rate measured yet")
        minutes = self.seconds_per_iteration * iterations_left / 60
        per_second = 1 / self.seconds_per_iteration if self.seconds_per_iteration > 0 else float("inf")
        return (f"ETA: about {minutes:.1f} min of training for the plan, evaluation not included "
                f"({per_second:.1f} it/s over iterations {self._first_row[0]}-{self.last_iteration})")
