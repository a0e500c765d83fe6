import copy
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from bench.benchmarks.joint_discriminator_call import build_step
from bench.suites import SUITES
from models.infogan import InfoGANStep, TrainConfig
from models.networks import build_networks
from models.trainer import CollapseRule, Trainer, TrainingDiverged

SUITE = SUITES["mnist"]
TINY = TrainConfig(iterations=6, batch_size=16, log_every=2, checkpoint_every=4)


def _images(n=64):
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def _generator_gradients(mutual_info: bool):
    """Gradients on G's weights of (G's training loss, its adversarial part, the MI term)."""
    torch.manual_seed(0)
    latent = SUITE.latent
    G, D = build_networks(latent.input_dim, latent.q_dim, SUITE.network)
    step = InfoGANStep(latent, G, D, replace(TINY, mutual_info=mutual_info), torch.device("cpu"))
    rng = torch.Generator().manual_seed(1)
    codes = latent.sample_codes(16, torch.device("cpu"), rng)
    fake = G(latent.generator_input(latent.sample_noise(16, torch.device("cpu"), rng), codes))
    params = list(G.parameters())
    total, _ = step.generator_loss(fake, codes)
    d_out, q_out = D(fake)
    adversarial = F.binary_cross_entropy_with_logits(d_out, torch.ones_like(d_out))
    mi_term = -latent.log_likelihoods(q_out, codes).mean(0).sum()
    grads = [torch.autograd.grad(loss, params, retain_graph=True) for loss in (total, adversarial, mi_term)]
    return [torch.cat([g.flatten() for g in gs]) for gs in grads]


def test_gan_baseline_gives_the_generator_no_mi_gradient():
    total, adversarial, mi_term = _generator_gradients(mutual_info=False)
    assert mi_term.norm() > 1e-3  # the MI term does depend on G ...
    torch.testing.assert_close(total, adversarial)  # ... but the GAN's G gradient is the adversarial one alone


def test_infogan_generator_gets_the_weighted_mi_gradient():
    total, adversarial, _ = _generator_gradients(mutual_info=True)
    difference = (total - adversarial).norm() / adversarial.norm()
    assert difference > 1e-2


def test_q_loss_trains_the_shared_discriminator_body():
    torch.manual_seed(0)
    latent = SUITE.latent
    G, D = build_networks(latent.input_dim, latent.q_dim, SUITE.network)
    step = InfoGANStep(latent, G, D, replace(TINY, mutual_info=False), torch.device("cpu"))
    codes = latent.sample_codes(16, torch.device("cpu"))
    fake = G(latent.generator_input(latent.sample_noise(16, torch.device("cpu")), codes)).detach()
    loss_q, _ = step.mi_loss(D(fake)[1], codes)
    first_conv = D.body[0].weight
    assert torch.autograd.grad(loss_q, first_conv)[0].norm() > 0


def test_one_discriminator_call_on_two_batches_is_two_calls():
    """D(cat(real, fake), batches=2) gives D(real) and D(fake), their input gradients, and the
    running statistics the two calls in turn leave (each batch norm sees each batch on its own)."""
    torch.manual_seed(0)
    _, D = build_networks(SUITE.latent.input_dim, SUITE.latent.q_dim, SUITE.network)
    twice, plain = copy.deepcopy(D), copy.deepcopy(D)
    real, fake = torch.rand(16, 1, 28, 28), torch.rand(16, 1, 28, 28, requires_grad=True)
    d_one, q_one = D(torch.cat([real, fake]), batches=2)
    (d_real, _), (d_fake, q_fake) = twice(real), twice(fake)
    torch.testing.assert_close(d_one, torch.cat([d_real, d_fake]))
    torch.testing.assert_close(q_one[16:], q_fake)
    grad_one, = torch.autograd.grad((d_one[16:] + q_one[16:].sum(1)).sum(), fake)
    grad_twice, = torch.autograd.grad((d_fake + q_fake.sum(1)).sum(), fake)
    torch.testing.assert_close(grad_one, grad_twice)
    for (name, a), b in zip(D.named_buffers(), twice.buffers()):
        torch.testing.assert_close(a, b, msg=name)
    d_mixed, _ = plain(torch.cat([real, fake]))  # one batch of both: other statistics, other outputs
    assert not torch.allclose(d_mixed, d_one, atol=1e-3)


def test_the_step_with_one_discriminator_call_is_the_step_with_two():
    """One training step with D called once on real and fake together and once per batch (the
    timing benchmark's two ways), from the same start: the same losses, and every gradient (G's
    from the G update, D's from the D update) within 1e-4 of the network's largest one (Adam's
    first update divides by the gradient's own size, so near-zero rounding noise is compared
    here, before it)."""
    steps = [build_step("fp32", 16, joint) for joint in (True, False)]
    joint_stats, two_stats = (step(_images(16), torch.Generator().manual_seed(3)) for step in steps)
    torch.testing.assert_close(joint_stats, two_stats, rtol=1e-5, atol=1e-5)
    for network in ("generator", "discriminator"):
        joint, two = (list(getattr(step, network).parameters()) for step in steps)
        scale = max(p.grad.abs().max().item() for p in two)
        for a, b in zip(joint, two):
            assert (a.grad - b.grad).abs().max().item() <= 1e-4 * scale


def _one_step(images: torch.Tensor, **changes):
    """(step stats, G before the step, G and D after it, G's inputs with their grad mode) of one
    step of TINY with ``changes`` from seed 0, latent drawn from a generator seeded 1."""
    torch.manual_seed(0)
    latent = SUITE.latent
    G, D = build_networks(latent.input_dim, latent.q_dim, SUITE.network)
    start = copy.deepcopy(G)
    calls = []
    G.register_forward_pre_hook(lambda module, args: calls.append((args[0].clone(), torch.is_grad_enabled())))
    step = InfoGANStep(latent, G, D, replace(TINY, **changes), torch.device("cpu"))
    stats = step(images, torch.Generator().manual_seed(1))
    return stats, start, G, D, calls


def test_a_fresh_g_latent_gives_the_g_step_its_own_draw():
    """With ``fresh_g_latent`` the D step is unchanged (same draw, same losses, same D after it),
    its fakes are made without a graph, and the G step generates from the next draw: its loss is
    BCE(D'(G(z2, c2)), 1) with D' the updated D and G the G before the step."""
    images = _images(16)
    reuse_stats, _, reuse_g, reuse_d, reuse_calls = _one_step(images)
    fresh_stats, start, fresh_g, fresh_d, fresh_calls = _one_step(images, fresh_g_latent=True)
    assert [grad for _, grad in reuse_calls] == [True]
    assert [grad for _, grad in fresh_calls] == [False, True]
    torch.testing.assert_close(fresh_calls[0][0], reuse_calls[0][0])
    assert not torch.equal(fresh_calls[1][0], fresh_calls[0][0])
    torch.testing.assert_close(fresh_stats[[0, 2]], reuse_stats[[0, 2]])  # loss_d, loss_q
    for a, b in zip(fresh_d.parameters(), reuse_d.parameters()):  # its BN running statistics also see G's batch
        torch.testing.assert_close(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(fresh_g.parameters(), reuse_g.parameters()))

    latent, rng = SUITE.latent, torch.Generator().manual_seed(1)
    for _ in range(2):  # the D step's draw, then the G step's
        noise, codes = latent.sample_noise(16, torch.device("cpu"), rng), latent.sample_codes(16, torch.device("cpu"), rng)
    second = latent.generator_input(noise, codes)
    torch.testing.assert_close(fresh_calls[1][0], second)
    with torch.no_grad():
        d_out, _ = fresh_d(start(second))
    expected = F.binary_cross_entropy_with_logits(d_out, torch.ones_like(d_out))
    torch.testing.assert_close(fresh_stats[1], expected)



@pytest.mark.parametrize("mutual_info", [True, False])
def test_simultaneous_updates_take_both_gradients_before_either_update(mutual_info):
    """With ``simultaneous`` G runs once and D once per batch: D's gradient is the alternating
    step's (same draw, same losses), and G's is the gradient of its loss (BCE(D(G(z, c)), 1),
    minus L_I for InfoGAN only) through D as it was before its update, where the alternating
    step's goes through the updated D. Gradients within 1e-4 of the network's largest one."""
    images = _images(16)
    alternating_stats, _, alternating_g, alternating_d, alternating_calls = _one_step(images, mutual_info=mutual_info)
    stats, start, G, D, calls = _one_step(images, mutual_info=mutual_info, simultaneous=True)
    assert [grad for _, grad in calls] == [True]
    torch.testing.assert_close(calls[0][0], alternating_calls[0][0])
    torch.testing.assert_close(stats[[0, 2]], alternating_stats[[0, 2]])  # loss_d, loss_q
    scale = max(p.grad.abs().max().item() for p in alternating_d.parameters())
    for a, b in zip(D.parameters(), alternating_d.parameters()):
        assert (a.grad - b.grad).abs().max().item() <= 1e-4 * scale

    torch.manual_seed(0)
    _, start_d = build_networks(SUITE.latent.input_dim, SUITE.latent.q_dim, SUITE.network)
    reference = InfoGANStep(SUITE.latent, start, start_d, replace(TINY, mutual_info=mutual_info), torch.device("cpu"))
    rng = torch.Generator().manual_seed(1)
    noise, codes = reference.sample_latent(16, rng)
    total, g_stats = reference.generator_loss(start(SUITE.latent.generator_input(noise, codes)), codes)
    expected = torch.autograd.grad(total, list(start.parameters()))
    torch.testing.assert_close(stats[1], g_stats[0])
    scale = max(g.abs().max().item() for g in expected)
    for parameter, gradient in zip(G.parameters(), expected):
        assert (parameter.grad - gradient).abs().max().item() <= 1e-4 * scale
    assert any((a.grad - b.grad).abs().max().item() > 1e-2 * scale
               for a, b in zip(G.parameters(), alternating_g.parameters()))


def test_simultaneous_updates_refuse_a_fresh_g_latent():
    with pytest.raises(ValueError, match="simultaneous"):
        TrainConfig(simultaneous=True, fresh_g_latent=True)

def test_resume_reaches_the_same_iteration_and_weights():
    images = _images()
    straight = Trainer(SUITE.latent, SUITE.network, TINY, images, torch.device("cpu"), seed=3)
    straight.train(progress=False)

    saved = {}

    class Killed(Exception):
        pass

    def checkpoint_then_die(trainer):
        saved["state"] = trainer.state_dict()
        raise Killed

    first = Trainer(SUITE.latent, SUITE.network, TINY, images, torch.device("cpu"), seed=3)
    with pytest.raises(Killed):
        first.train(progress=False, on_checkpoint=checkpoint_then_die)
    resumed = Trainer(SUITE.latent, SUITE.network, TINY, images, torch.device("cpu"), seed=3)
    resumed.load_state_dict(saved["state"])
    assert resumed.iteration == 4
    resumed.train(progress=False)
    assert resumed.iteration == straight.iteration == 6
    assert [r["iteration"] for r in resumed.history] == [r["iteration"] for r in straight.history] == [2, 4, 6]
    for a, b in zip(straight.history, resumed.history):
        assert a.keys() == b.keys()
        assert all(abs(a[k] - b[k]) < 1e-5 for k in a if k != "wall_seconds")
    for a, b in zip(straight.generator.state_dict().values(), resumed.generator.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_same_seed_same_data_order_for_infogan_and_gan():
    images = _images()
    a = Trainer(SUITE.latent, SUITE.network, TINY, images, torch.device("cpu"), seed=5)
    b = Trainer(SUITE.latent, SUITE.network, replace(TINY, mutual_info=False), images, torch.device("cpu"), seed=5)
    assert torch.equal(a.next_batch(), b.next_batch())
    for p, q in zip(a.generator.parameters(), b.generator.parameters()):
        assert torch.equal(p, q)


def test_non_finite_loss_stops_the_run():
    images = _images()
    trainer = Trainer(SUITE.latent, SUITE.network, TINY, images, torch.device("cpu"), seed=0)
    with torch.no_grad():
        trainer.discriminator.d_head.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged) as info:
        trainer.train(progress=False)
    assert info.value.iteration == 2 and "non-finite" in info.value.reason


def test_collapse_rule_stops_after_patience_low_d_losses():
    """loss_d below the threshold at `patience` consecutive log points: diverged at the last of them."""
    images = _images()
    rule = CollapseRule(threshold=1e9, patience=2)  # every loss is below 1e9
    trainer = Trainer(SUITE.latent, SUITE.network, TINY, images, torch.device("cpu"), seed=0, collapse=rule)
    with pytest.raises(TrainingDiverged) as info:
        trainer.train(progress=False)
    assert info.value.iteration == 4 and "discriminator collapsed" in info.value.reason
    assert [row["iteration"] for row in trainer.history] == [2, 4]


def test_collapse_rule_counts_consecutive_points_only():
    rule = CollapseRule(threshold=1e-3, patience=3)
    low, high = {"loss_d": 1e-4}, {"loss_d": 0.7}
    assert rule.check([low, low]) is None
    assert rule.check([low, high, low, low]) is None
    assert "3 consecutive log points" in rule.check([high, low, low, low])
    assert CollapseRule(patience=0).check([low] * 10) is None
    assert CollapseRule().check([{"loss_d": 0.9}] * 10) is None  # healthy training never trips it
