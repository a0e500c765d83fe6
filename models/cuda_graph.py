"""A whole training step replayed from one CUDA graph.

A small GAN's step is hundreds of short kernels (G and D forward and backward, two Adam
updates); on a large GPU launching them costs more than running them. Capturing the step once
and replaying the graph launches them all with one call. What a graph needs, and this class
provides: inputs copied into a fixed buffer, optimiser state that lives on the device
(``Adam(capturable=True)``), the random generators used inside registered with the graph, and
a few eager warm-up calls on a side stream first (they create the optimiser state and let
cuDNN pick its algorithms). Every call, warm-up and capture included, performs exactly one
training step, so a graphed run takes the same number of steps as an eager one.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

WARMUP_CALLS = 3


class GraphedStep:
    """``step(batch)`` eagerly for the first ``warmup`` calls, then from one captured CUDA graph.

    ``step`` must read its input only from the tensor it is given, draw random numbers only
    from ``generators`` (or the default CUDA generator) and return one tensor; every call
    returns a fresh copy of that tensor (the graph overwrites its output at each replay).
    """

    def __init__(self, step: Callable[[torch.Tensor], torch.Tensor], generators: Sequence[torch.Generator] = (),
                 warmup: int = WARMUP_CALLS):
        if not torch.cuda.is_available():
            raise RuntimeError("CUDA graphs need a CUDA device")
        self.step, self.generators, self.warmup = step, list(generators), warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_input: torch.Tensor | None = None
        self.static_output: torch.Tensor | None = None

    def _eager_on_side_stream(self, batch: torch.Tensor) -> torch.Tensor:
        side = torch.cuda.Stream(device=batch.device)
        side.wait_stream(torch.cuda.current_stream(batch.device))
        with torch.cuda.stream(side):
            out = self.step(batch)
        torch.cuda.current_stream(batch.device).wait_stream(side)
        return out

    def _capture(self, batch: torch.Tensor) -> None:
        self.static_input = batch.clone()
        graph = torch.cuda.CUDAGraph()
        for generator in self.generators:
            graph.register_generator_state(generator)
        with torch.cuda.graph(graph):
            self.static_output = self.step(self.static_input)
        self.graph = graph

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.graph is None and self.calls <= self.warmup:
            return self._eager_on_side_stream(batch).clone()
        if self.graph is None:
            self._capture(batch)  # capture records the kernels without running them
        self.static_input.copy_(batch)
        self.graph.replay()
        return self.static_output.clone()
