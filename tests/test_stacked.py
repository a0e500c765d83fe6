"""Several seeds trained as stacked copies in one process: each copy is its lone run."""

from dataclasses import replace

import pytest
import torch

from bench.suites import SUITES
from models.infogan import InfoGANStep, TrainConfig
from models.stacked_trainer import StackedTrainer
from models.trainer import Trainer

SUITE = SUITES["mnist"]
CPU = torch.device("cpu")
CONFIG = TrainConfig(iterations=4, batch_size=16, log_every=2, checkpoint_every=4)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randint(0, 256, (256, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))




@pytest.mark.parametrize("changes", [{}, {"fresh_g_latent": True}, {"simultaneous": True}],
                         ids=["reused latent", "fresh latent", "simultaneous"])
def test_one_stacked_step_is_each_seeds_lone_step(images, changes):
    """Seeds 0 and 1 stacked against the same seeds alone, one step from the same start: the same
    batches and latent draws give the same losses, and every gradient of copy k (G's from the G
    update, D's from the D update) is the lone run's, so nothing leaks between copies. Gradients
    are compared within 1e-4 of the network's largest one: the biases before batch norm have a
    true gradient of zero, and what they hold is rounding noise of either computation. It holds
    whether the G step reuses the D step's latent draw or takes its own, and with simultaneous
    updates."""
    config = replace(CONFIG, **changes)
    stacked = StackedTrainer(SUITE.latent, SUITE.network, config, images, CPU, [0, 1])
    stats = stacked.step(stacked.next_batch(), stacked.latent_rngs)
    assert stats.shape == (2, 3 + len(SUITE.latent.codes))
    for k, seed in enumerate((0, 1)):
        lone = Trainer(SUITE.latent, SUITE.network, config, images, CPU, seed)
        lone_stats = lone.step(lone.next_batch(), lone.latent_rng)
        assert torch.allclose(stats[k], lone_stats, atol=1e-5), (seed, stats[k], lone_stats)
        for stack, module in ((stacked.generator, lone.generator), (stacked.discriminator, lone.discriminator)):
            scale = max(p.grad.abs().max().item() for p in module.parameters())
            for name, parameter in module.named_parameters():
                difference = (stack.params[name].grad[k] - parameter.grad).abs().max().item()
                assert difference <= 1e-4 * scale, (seed, name, difference, scale)


def test_a_seeds_state_is_a_lone_trainers_checkpoint(images):
    """After two stacked iterations, seed 1's state loads into a lone Trainer, which holds the
    copy's weights, its Adam moments and its data position, and trains on from there."""
    stacked = StackedTrainer(SUITE.latent, SUITE.network, CONFIG, images, CPU, [0, 1])
    stacked.train(progress=False)
    state = stacked.state_dict(1)
    lone = Trainer(SUITE.latent, SUITE.network, replace(CONFIG, iterations=6), images, CPU, 1)
    lone.load_state_dict(state)
    assert lone.iteration == 4 and len(lone.history) == 2
    for name, tensor in lone.generator.state_dict().items():
        assert torch.equal(tensor, stacked.generator.state_dict(1)[name]), name
    moments = lone.step.opt_g.state_dict()["state"][0]["exp_avg"]
    assert moments.shape == next(lone.generator.parameters()).shape
    assert torch.equal(moments, stacked.step.opt_g.state_dict()["state"][0]["exp_avg"][1])
    history = lone.train(progress=False)
    assert [row["iteration"] for row in history] == [2, 4, 6]
    assert all(torch.isfinite(torch.tensor(row["loss_d"])) for row in history)


def test_a_diverging_seed_fails_alone(images):
    """A copy whose weights turn NaN is marked failed at the next log point; the other copy's
    losses stay finite and it trains to the end."""
    stacked = StackedTrainer(SUITE.latent, SUITE.network, CONFIG, images, CPU, [0, 1])
    with torch.no_grad():
        stacked.discriminator.params["d_head.weight"][1].fill_(float("nan"))
    histories = stacked.train(progress=False)
    assert list(stacked.failures) == [1]
    assert "non-finite" in str(stacked.failures[1]) and stacked.failures[1].iteration == 2
    assert [row["iteration"] for row in histories[0]] == [2, 4] and histories[1] == []
    assert all(torch.isfinite(torch.tensor(row["loss_d"])) for row in histories[0])


def test_stacked_copies_refuse_the_settings_they_cannot_take(images):
    with pytest.raises(ValueError, match="distinct"):
        StackedTrainer(SUITE.latent, SUITE.network, CONFIG, images, CPU, [0, 0])
    with pytest.raises(ValueError, match="channels_last"):
        StackedTrainer(SUITE.latent, SUITE.network, replace(CONFIG, channels_last=True), images, CPU, [0, 1])


def test_cuda_graphs_are_refused_without_a_cuda_device():
    from models.networks import build_networks

    with pytest.raises(ValueError, match="alternatives"):
        TrainConfig(cuda_graph=True, compile=True)
    G, D = build_networks(SUITE.latent.input_dim, SUITE.latent.q_dim, SUITE.network)
    with pytest.raises(ValueError, match="CUDA device"):
        InfoGANStep(SUITE.latent, G, D, TrainConfig(cuda_graph=True), CPU)
