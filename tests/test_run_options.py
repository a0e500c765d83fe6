"""RunOptions left to its defaults trains with the speed settings `bench run` uses."""

from pathlib import Path

import torch

from bench.runner import RunOptions, RunSpec
from models.infogan import default_precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # a device object; nothing runs on it


def test_the_defaults_are_the_devices_precision_and_fused_adam_without_graphs_on_a_cpu():
    options = RunOptions(out=Path("unused"), device=CPU)
    assert (options.precision, options.fused_optimizer, options.compile, options.cuda_graph) == (
        default_precision(CPU), True, False, False)
    config = options.train_config(RunSpec("mnist", "infogan", 0, "paper"))
    assert (config.precision, config.fused_optimizer, config.cuda_graph) == (default_precision(CPU), True, False)


def test_a_cuda_device_replays_the_step_from_a_graph_unless_compiled_or_told_not_to():
    assert RunOptions(out=Path("unused"), device=CUDA).cuda_graph is True
    assert RunOptions(out=Path("unused"), device=CUDA, compile=True).cuda_graph is False
    assert RunOptions(out=Path("unused"), device=CUDA, cuda_graph=False).cuda_graph is False


def test_settings_given_are_kept():
    options = RunOptions(out=Path("unused"), device=CPU, precision="fp32", fused_optimizer=False)
    config = options.train_config(RunSpec("mnist", "gan", 1, "paper"))
    assert (config.precision, config.fused_optimizer) == ("fp32", False)
