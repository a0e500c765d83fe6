"""The bf16-weight-copies optimiser: Adam's arithmetic on fp32 masters, and the fast path's step.

The update runs op by op here (``compile=False``): the same function the benchmark compiles,
without the compiler's start-up in a fresh process (about 40 s for these tests).
"""

import torch
from torch import nn

from bench.benchmarks.bf16_weight_copies import Bf16CopyAdam, step_stats


def test_the_update_is_adams_on_the_masters_and_the_copies_follow_them():
    """Three steps on a linear layer (bf16 copies) and a batch norm (fp32, its own master):
    the masters follow torch.optim.Adam given the same gradients widened to fp32, and each copy
    is its master rounded to bf16."""
    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5))
    reference = [p.detach().clone().requires_grad_() for p in network.parameters()]
    adam = torch.optim.Adam(reference, lr=1e-2, betas=(0.5, 0.999))
    copies = Bf16CopyAdam(network, lr=1e-2, betas=(0.5, 0.999), compile=False)
    linear, norm = network
    assert linear.weight.dtype == linear.bias.dtype == torch.bfloat16 and norm.weight.dtype == torch.float32
    for _ in range(3):
        copies.zero_grad()
        for param in network.parameters():
            param.grad = torch.randn(param.shape).to(param.dtype)
        for ref, param in zip(reference, network.parameters()):
            ref.grad = param.grad.float()
        adam.step()
        copies.step()
    for ref, master in zip(reference, copies.masters):
        torch.testing.assert_close(master, ref.detach(), rtol=1e-6, atol=1e-7)  # rounding alone
    for master, copy in zip(copies.masters, copies.copies):
        if copy is not None:
            assert torch.equal(copy, master.to(torch.bfloat16))
    assert torch.equal(norm.weight.detach(), copies.masters[2])  # batch norm's scale is its own master


def test_a_missing_gradient_is_refused():
    copies = Bf16CopyAdam(nn.Linear(3, 2), lr=1e-3, betas=(0.5, 0.999), compile=False)
    try:
        copies.step()
    except RuntimeError as error:
        assert "gradient" in str(error)
    else:
        raise AssertionError("an update without gradients went through")


def test_the_step_with_copies_computes_what_the_fast_path_computes():
    """Same seed, batches and latent draws: the first D step's losses are bit for bit the fast
    path's (the copies hold what autocast's casts give), and over 3 steps every loss and mean
    log Q stays within 5% (relative) or 0.02 (absolute) of the fast path's, the tolerance the
    fast path keeps to fp32 (tests/test_perf.py); only the optimiser's rounding order differs."""
    stats = step_stats(steps=3, batch_size=16, compile=False)
    fast, copies = stats["autocast casts"], stats["bf16 copies"]
    assert fast.shape == copies.shape and fast.shape[0] == 3
    assert copies[0, 0] == fast[0, 0] and copies[0, 2] == fast[0, 2]  # loss_d and loss_q, before any update
    assert ((copies - fast).abs() <= torch.clamp(0.05 * fast.abs(), min=0.02)).all(), (fast, copies)
