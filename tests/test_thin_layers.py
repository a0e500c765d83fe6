"""The thin forms of the one-channel layers compute what PyTorch's do: outputs and every gradient,
in float64, under bf16 autocast, under vmap (stacked seeds), and inside the networks."""

import pandas as pd
import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from bench.benchmarks.thin_layers import ThinConv2d, ThinConvTranspose2d, main, thin_roles, use_thin_layers
from bench.perf import seeded_networks

# (PyTorch's class, the thin one, in and out channels, input shape); the 3-channel cases check
# that the product and col2im keep the channels apart.
LAYERS = [
    (nn.ConvTranspose2d, ThinConvTranspose2d, 64, 1, (3, 64, 14, 14)),
    (nn.Conv2d, ThinConv2d, 1, 64, (3, 1, 28, 28)),
    (nn.ConvTranspose2d, ThinConvTranspose2d, 8, 3, (2, 8, 7, 7)),
    (nn.Conv2d, ThinConv2d, 3, 8, (2, 3, 14, 14)),
]
IDS = ["upconv 64->1", "conv 1->64", "upconv 8->3", "conv 3->8"]


def _pair(standard_class, thin_class, in_channels, out_channels, dtype=torch.float32):
    torch.manual_seed(0)
    standard = standard_class(in_channels, out_channels, 4, stride=2, padding=1).to(dtype)
    nn.init.normal_(standard.bias)
    thin = thin_class(in_channels, out_channels, 4, stride=2, padding=1).to(dtype)
    thin.load_state_dict(standard.state_dict())
    return standard, thin


def _outputs_and_gradients(layer: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    x = x.clone().requires_grad_()
    out = layer(x)
    weights = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view(out.shape)
    gradients = torch.autograd.grad((out.double() * weights).sum(), (x, layer.weight, layer.bias))
    return [out.detach(), *gradients]


@pytest.mark.parametrize("standard_class, thin_class, in_channels, out_channels, shape", LAYERS, ids=IDS)
def test_float64_outputs_and_gradients_equal_pytorchs(standard_class, thin_class, in_channels, out_channels, shape):
    standard, thin = _pair(standard_class, thin_class, in_channels, out_channels, torch.float64)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected, got = _outputs_and_gradients(standard, x), _outputs_and_gradients(thin, x)
    assert got[0].shape == expected[0].shape
    for name, a, b in zip(("output", "input gradient", "weight gradient", "bias gradient"), expected, got):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10, msg=name)


def test_a_wrong_tap_order_is_caught():
    """The comparison can fail: the same layer with its kernel mirrored disagrees."""
    standard, thin = _pair(nn.ConvTranspose2d, ThinConvTranspose2d, 64, 1, torch.float64)
    with torch.no_grad():
        thin.weight.copy_(standard.weight.flip(-1))
    x = torch.randn(2, 64, 14, 14, dtype=torch.float64)
    assert not torch.allclose(thin(x), standard(x))


@pytest.mark.parametrize("standard_class, thin_class, in_channels, out_channels, shape", LAYERS[:2], ids=IDS[:2])
def test_under_bf16_autocast_dtypes_are_pytorchs_and_values_agree_to_bf16_rounding(
        standard_class, thin_class, in_channels, out_channels, shape):
    standard, thin = _pair(standard_class, thin_class, in_channels, out_channels)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    results = []
    for layer in (standard, thin):
        with torch.autocast("cpu", torch.bfloat16):
            results.append(_outputs_and_gradients(layer, x))
    for a, b in zip(*results):
        assert a.dtype == b.dtype
        # bf16 keeps 8 bits: both sum the same bf16 products in other orders
        assert (b.double() - a.double()).abs().max() <= 2 ** -6 * a.double().abs().max()
    assert results[0][0].dtype == torch.bfloat16 and results[0][2].dtype == torch.float32


@pytest.mark.parametrize("standard_class, thin_class, in_channels, out_channels, shape", LAYERS[:2], ids=IDS[:2])
def test_stacked_copies_under_vmap_give_each_lone_copys_outputs_and_gradients(
        standard_class, thin_class, in_channels, out_channels, shape):
    copies = [_pair(standard_class, thin_class, in_channels, out_channels, torch.float64)[1] for _ in range(2)]
    with torch.no_grad():
        copies[1].weight.mul_(-0.5)
    params, buffers = stack_module_state(copies)
    x = torch.randn(2, *shape, dtype=torch.float64)
    stacked = vmap(lambda p, b, inputs: functional_call(copies[0], (p, b), (inputs,)))(params, buffers, x)
    stacked_grad = torch.autograd.grad(stacked.sum(), params["weight"])[0]
    for k, copy in enumerate(copies):
        lone = copy(x[k])
        torch.testing.assert_close(stacked[k], lone)
        torch.testing.assert_close(stacked_grad[k], torch.autograd.grad(lone.sum(), copy.weight)[0])


def test_the_networks_with_thin_layers_compute_what_they_did():
    _, G, D = seeded_networks("mnist", torch.device("cpu"))
    _, G_thin, D_thin = seeded_networks("mnist", torch.device("cpu"))
    use_thin_layers(G_thin, D_thin)
    assert type(G_thin.conv[3]) is ThinConvTranspose2d and type(D_thin.body[0]) is ThinConv2d
    for standard, thin in ((G, G_thin), (D, D_thin)):
        assert standard.state_dict().keys() == thin.state_dict().keys()
        for name, tensor in standard.state_dict().items():
            assert torch.equal(tensor, thin.state_dict()[name]), name
        standard.double(), thin.double()
    latent = torch.randn(4, G.fc[0].in_features, dtype=torch.float64)
    torch.testing.assert_close(G_thin(latent), G(latent))
    torch.testing.assert_close(D_thin(G_thin(latent)), D(G(latent)))


@pytest.mark.parametrize("wanted", ["input", "weights", "input and weights"])
@pytest.mark.parametrize("standard_class, thin_class, in_channels, out_channels, shape", LAYERS[:2], ids=IDS[:2])
def test_each_gradient_the_step_asks_for_alone_is_pytorchs(standard_class, thin_class, in_channels, out_channels,
                                                          shape, wanted):
    """The step takes D's first layer's weight gradients without its input gradient (D step) and
    its input gradient without weight gradients (G step): in float64, whichever gradients are
    asked for equal PyTorch's, and none is computed for the rest."""
    results = []
    for layer in _pair(standard_class, thin_class, in_channels, out_channels, torch.float64):
        layer.requires_grad_("weights" in wanted)
        x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        x.requires_grad_("input" in wanted)
        out = layer(x)
        out.backward(torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view(out.shape))
        results.append([x.grad, layer.weight.grad, layer.bias.grad])
    for a, b in zip(*results):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)


def test_unsupported_settings_are_refused():
    with pytest.raises(ValueError, match="groups"):
        ThinConv2d(2, 4, 4, stride=2, padding=1, groups=2)
    with pytest.raises(ValueError, match="output padding"):
        ThinConvTranspose2d(4, 1, 4, stride=2, padding=1, output_padding=1)


def test_the_benchmark_writes_its_tables(tmp_path):
    roles, steps = main(["--pairs", "2", "--steps", "1", "--calls", "1", "--repeats", "1", "--batch-size", "4",
                         "--out", str(tmp_path)])
    written = pd.read_csv(tmp_path / "thin_layers_roles.csv")
    assert list(written["layer"]) == [role.name for role in thin_roles(4)] == list(roles["layer"])
    assert len(written) == 3 and (written[["standard_ms", "thin_ms", "ratio"]] > 0).all().all()
    pairs = pd.read_csv(tmp_path / "thin_layers_step_pairs.csv")
    assert len(pairs) == 2 and (pairs[["standard_images_per_s", "thin_images_per_s"]] > 0).all().all()
    assert steps.loc[0, "pairs"] == 2 and steps.loc[0, "ratio"] > 0
