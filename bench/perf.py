"""Training speed, side by side in one process: a plain reference loop against the toolkit's path.

(a) ``reference``: the loop as common public InfoGAN ports write it: a DataLoader over a Dataset
    that turns each uint8 image into a float tensor (PIL -> ToTensor), a host-to-device copy per
    batch, fp32, no compilation, D's weight gradients computed in the G step too.
(b) ``toolkit-*``: the toolkit's InfoGANStep on batches drawn by index from the on-device uint8
    dataset, no host synchronisation per step, in fp32 and under bf16 autocast, optionally with
    channels-last tensors and fused Adam.

Each variant trains the same networks (same recipe, batch and seed) for ``warmup`` untimed then
``iterations`` timed iterations, ``repeats`` times; the median images/s is reported with the
peak memory (CUDA: max allocated; CPU: peak resident set growth, polled every 5 ms), the
device's measured matmul throughput and the share of the bf16 floor (peak bf16 matmul FLOP/s
divided by the FLOPs of one training step per image, counted by torch.utils.flop_counter).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode
from torchvision.transforms import functional as TF

from bench.suites import SUITES
from models.infogan import InfoGANStep, TrainConfig
from models.networks import build_networks


@dataclass(frozen=True)
class PerfConfig:
    suite: str = "mnist"
    batch_size: int = 128
    iterations: int = 40
    warmup: int = 5
    repeats: int = 3
    variants: tuple[str, ...] = ("reference", "toolkit-fp32", "toolkit-bf16", "toolkit-bf16-cl", "toolkit-bf16-fused")


@dataclass(frozen=True)
class Variant:
    name: str
    precision: str = "fp32"
    channels_last: bool = False
    fused_adam: bool = False


VARIANTS = {
    "toolkit-fp32": Variant("toolkit-fp32"),
    "toolkit-bf16": Variant("toolkit-bf16", precision="bf16"),
    "toolkit-bf16-cl": Variant("toolkit-bf16-cl", precision="bf16", channels_last=True),
    "toolkit-bf16-fused": Variant("toolkit-bf16-fused", precision="bf16", fused_adam=True),
}


class PilImages(Dataset):
    """MNIST the way torchvision's dataset serves it: a PIL image per item, then ToTensor."""

    def __init__(self, images: torch.Tensor):
        self.images = images.numpy()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return TF.to_tensor(Image.fromarray(self.images[index, 0], mode="L"))


class PeakMemory:
    """Peak memory while the block runs: CUDA max allocated, or the growth of the CPU resident set."""

    def __init__(self, device: torch.device):
        self.device, self.peak_bytes = device, 0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * 4096

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            self._base, self._peak, self._stop = self._rss(), self._rss(), threading.Event()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, self._rss())

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._base
        else:
            self._stop.set()
            self._thread.join()
            self.peak_bytes = max(self._peak, self._rss()) - self._base


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: torch.device, dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """Median GFLOP/s of a [size x size] @ [size x size] product (2 size^3 FLOPs)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    times = []
    for _ in range(repeats):
        synchronise(device)
        start = time.perf_counter()
        a @ b
        synchronise(device)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def _networks(suite_name: str, device: torch.device, channels_last: bool = False):
    suite = SUITES[suite_name]
    torch.manual_seed(0)
    G, D = build_networks(suite.latent.input_dim, suite.latent.q_dim, suite.network)
    G, D = G.to(device), D.to(device)
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    return suite, G, D


def step_flops_per_image(suite_name: str, batch_size: int, device: torch.device) -> float:
    """FLOPs of one training step (D/Q update and G update, forward and backward) per image."""
    suite, G, D = _networks(suite_name, device)
    step = InfoGANStep(suite.latent, G, D, TrainConfig(batch_size=batch_size), device)
    images = torch.randint(0, 256, (batch_size, *_image_shape(suite)), dtype=torch.uint8, device=device)
    with FlopCounterMode(display=False) as counter:
        step(images)
    return counter.get_total_flops() / batch_size


def _image_shape(suite) -> tuple[int, int, int]:
    return (suite.network.image_channels, suite.network.image_size, suite.network.image_size)


def _time_iterations(run_one, iterations: int, warmup: int, repeats: int, device: torch.device) -> list[float]:
    """Seconds of ``iterations`` calls of ``run_one`` after ``warmup`` calls, per repeat."""
    for _ in range(warmup):
        run_one()
    out = []
    for _ in range(repeats):
        synchronise(device)
        start = time.perf_counter()
        for _ in range(iterations):
            run_one()
        synchronise(device)
        out.append(time.perf_counter() - start)
    return out


def reference_loop(config: PerfConfig, images: torch.Tensor, device: torch.device):
    """A plain loop as public ports write it; returns a callable doing one iteration."""
    suite, G, D = _networks(config.suite, device)
    latent = suite.latent
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(PilImages(images), batch_size=config.batch_size, shuffle=True, drop_last=True)
    batches = iter(loader)

    def one() -> None:
        nonlocal batches
        try:
            real = next(batches)
        except StopIteration:
            batches = iter(loader)
            real = next(batches)
        real = real.to(device)
        n = real.shape[0]
        codes = latent.sample_codes(n, device)
        fake = G(latent.generator_input(latent.sample_noise(n, device), codes))
        d_real, _ = D(real)
        d_fake, q_fake = D(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones(n, device=device))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros(n, device=device))
                  - latent.log_likelihoods(q_fake, codes).mean(0).sum())
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        d_gen, q_gen = D(fake)
        loss_g = (F.binary_cross_entropy_with_logits(d_gen, torch.ones(n, device=device))
                  - latent.log_likelihoods(q_gen, codes).mean(0).sum())
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        loss_g.item()  # ports log every step

    return one


def toolkit_loop(config: PerfConfig, variant: Variant, images: torch.Tensor, device: torch.device):
    """The toolkit's step on index-drawn batches of the on-device uint8 dataset."""
    suite, G, D = _networks(config.suite, device, variant.channels_last)
    train = replace(suite.profiles["paper"].train, batch_size=config.batch_size, precision=variant.precision)
    step = InfoGANStep(suite.latent, G, D, train, device)
    if variant.fused_adam:
        betas = (train.beta1, train.beta2)
        step.opt_g = torch.optim.Adam(G.parameters(), lr=train.lr_g, betas=betas, fused=True)
        step.opt_d = torch.optim.Adam(D.parameters(), lr=train.lr_d, betas=betas, fused=True)
    data = images.to(device)
    if variant.channels_last:
        data = data.contiguous(memory_format=torch.channels_last)
    rng = torch.Generator(device=device).manual_seed(0)

    def one() -> None:
        index = torch.randint(len(data), (config.batch_size,), device=device, generator=rng)
        step(data[index], rng)

    return one


def run_perf(config: PerfConfig, images: torch.Tensor, device: torch.device) -> pd.DataFrame:
    """One row per variant: median images/s, the spread over repeats, peak memory, and the ratios."""
    flops = step_flops_per_image(config.suite, config.batch_size, device)
    peak_fp32 = matmul_gflops(device, torch.float32)
    peak_bf16 = matmul_gflops(device, torch.bfloat16)
    floor = peak_bf16 * 1e9 / flops
    rows = []
    for name in config.variants:
        build = (lambda: reference_loop(config, images, device)) if name == "reference" else \
            (lambda: toolkit_loop(config, VARIANTS[name], images, device))
        with PeakMemory(device) as memory:
            seconds = _time_iterations(build(), config.iterations, config.warmup, config.repeats, device)
        rates = [config.iterations * config.batch_size / s for s in seconds]
        rows.append({"variant": name, "images_per_s": statistics.median(rates), "min_images_per_s": min(rates),
                     "max_images_per_s": max(rates), "peak_memory_mb": memory.peak_bytes / 2**20})
    table = pd.DataFrame(rows)
    reference = table.loc[table["variant"] == "reference", "images_per_s"]
    table["ratio_to_reference"] = table["images_per_s"] / reference.iloc[0] if len(reference) else np.nan
    table["share_of_bf16_floor"] = table["images_per_s"] / floor
    table["step_mflop_per_image"] = flops / 1e6
    table["matmul_gflops_fp32"] = peak_fp32
    table["matmul_gflops_bf16"] = peak_bf16
    table["bf16_floor_images_per_s"] = floor
    table["device"] = str(device)
    table["threads"] = torch.get_num_threads()
    table["batch_size"] = config.batch_size
    table["iterations"] = config.iterations
    table["repeats"] = config.repeats
    return table


def write_perf(table: pd.DataFrame, out: Path) -> Path:
    from bench.aggregate import write_csv

    path = Path(out) / "perf" / "perf.csv"
    write_csv(table, path)
    return path
