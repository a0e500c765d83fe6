"""Several copies of one network trained side by side as one batched network.

One small GAN cannot fill a large GPU: at batch 128 its kernels are short and few. Stacking
K independently initialised copies (one per seed) puts their weights in tensors with a
leading seed dimension, and ``torch.func.vmap`` over ``functional_call`` runs all K in the
same kernels (convolutions become grouped convolutions, linear layers batched products).
Nothing mixes across seeds: each copy sees only its own inputs and batch-norm statistics, the
loss is the sum of the copies' losses, so each copy's gradient is its own, and Adam is an
elementwise update, so one Adam over the stacked tensors is K independent Adams. A stacked
copy therefore follows the same trajectory as the copy trained alone, up to rounding.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class StackedModules:
    """K modules of one architecture as stacked tensors, called as one batched module.

    ``stacked(x)`` takes inputs with a leading dimension K (input k goes to copy k) and returns
    outputs with that leading dimension. Parameters are leaf tensors [K, ...] in the order of
    ``module.named_parameters()``, so an optimiser over ``parameters()`` updates every copy.
    """

    def __init__(self, modules: list[nn.Module]):
        if not modules:
            raise ValueError("nothing to stack")
        self.count = len(modules)
        self.params, self.buffers = stack_module_state(modules)
        self._skeleton = copy.deepcopy(modules[0]).to("meta")  # the architecture, without storage
        self._batched = vmap(self._call_one, in_dims=(0, 0, 0, None), randomness="error")

    def _call_one(self, params: dict, buffers: dict, inputs: torch.Tensor, options: dict):
        return functional_call(self._skeleton, (params, buffers), (inputs,), options)

    def __call__(self, inputs: torch.Tensor, **options):
        """The copies on their inputs; ``options`` (keyword arguments of the module's forward) go
        to every copy alike."""
        if inputs.shape[0] != self.count:
            raise ValueError(f"inputs hold {inputs.shape[0]} copies along dim 0, the stack has {self.count}")
        return self._batched(self.params, self.buffers, inputs, options)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def requires_grad_(self, flag: bool = True) -> "StackedModules":
        for tensor in self.params.values():
            tensor.requires_grad_(flag)
        return self

    def train(self, mode: bool = True) -> "StackedModules":
        self._skeleton.train(mode)
        return self

    def eval(self) -> "StackedModules":
        return self.train(False)

    def state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Copy k's state dict, with the keys and layout a lone module of the architecture has."""
        tensors = {**self.params, **self.buffers}
        return {name: tensors[name][k].detach().clone() for name in self._skeleton.state_dict()}

    def load_state_dict(self, k: int, state: dict[str, torch.Tensor]) -> None:
        """Write a lone module's state dict into copy k."""
        tensors = {**self.params, **self.buffers}
        missing = set(self._skeleton.state_dict()) - set(state)
        if missing:
            raise KeyError(f"state dict lacks {', '.join(sorted(missing))}")
        with torch.no_grad():
            for name in self._skeleton.state_dict():
                tensors[name][k].copy_(state[name])

    def module(self, k: int) -> nn.Module:
        """A lone module holding copy k's current weights (a copy: training the stack leaves it as is)."""
        device = next(iter(self.params.values())).device
        lone = copy.deepcopy(self._skeleton).to_empty(device=device).train()
        lone.load_state_dict(self.state_dict(k))
        return lone


def optimizer_state_slice(state: dict, k: int, count: int) -> dict:
    """An optimiser state dict of stacked parameters cut down to copy k: every per-parameter
    tensor whose first dimension is the stack's is indexed at k (Adam's moments); the rest
    (step counts, hyperparameters) is kept as it is."""
    def cut(value):
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == count:
            return value[k].clone()
        return value

    return {"state": {index: {key: cut(v) for key, v in entry.items()} for index, entry in state["state"].items()},
            "param_groups": copy.deepcopy(state["param_groups"])}
