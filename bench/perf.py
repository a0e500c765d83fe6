"""Training speed, side by side in one process: a plain reference loop against the toolkit's path.

(a) ``reference``: the loop as common public InfoGAN ports write it: a DataLoader over a Dataset
    that turns each uint8 image into a float tensor (PIL -> ToTensor), a host-to-device copy per
    batch, fp32, no compilation, D's weight gradients computed in the G step too.
(b) ``toolkit-*``: the toolkit's InfoGANStep on batches drawn by index from the on-device uint8
    dataset, no host synchronisation per step, in fp32 and under bf16 autocast, optionally with
    channels-last tensors, fused Adam and torch.compile.

Each variant trains the same networks (same recipe, batch and seed) for ``warmup`` untimed then
``iterations`` timed iterations, ``repeats`` times (round-robin over the variants after the
first); the median images/s is reported with the
peak memory (CUDA: max allocated; CPU: peak resident set growth, polled every 5 ms), the
device's measured matmul throughput and the share of the floor: the matmul peak at the device's
default precision (bf16 where it is native, else fp32) divided by the FLOPs per image of the
recipe's training step, counted by torch.utils.flop_counter.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode
from torchvision.transforms import functional as TF
from tqdm.auto import tqdm

from bench.suites import SUITES
from models.infogan import PRECISIONS, InfoGANStep, TrainConfig, default_cuda_graph, default_precision
from models.host_heap import keep_freed_memory
from models.networks import build_networks
from models.stacked_trainer import StackedTrainer


@dataclass(frozen=True)
class PerfConfig:
    """What to time. A variant is ``reference`` or ``toolkit-<fp32|bf16>`` followed by any of
    ``+cl`` (channels-last), ``+fused`` (fused Adam), ``+compile`` (torch.compile), ``+graph``
    (CUDA graph replay), ``+simul`` (simultaneous D and G updates from one D pass) and ``+x<K>``
    (K seeds stacked in one process; images/s counts all K)."""

    suite: str = "mnist"
    batch_size: int = 128
    iterations: int = 40
    warmup: int = 5
    repeats: int = 3
    variants: tuple[str, ...] = ("reference", "toolkit-fp32", "toolkit-bf16", "toolkit-bf16+cl",
                                 "toolkit-bf16+fused", "toolkit-bf16+compile")


# The default set on a CUDA device: the graph replay and stacked seeds exist there only.
CUDA_VARIANTS = ("reference", "toolkit-fp32", "toolkit-bf16", "toolkit-bf16+fused", "toolkit-bf16+fused+graph",
                 "toolkit-bf16+fused+x8", "toolkit-bf16+fused+graph+x8")
# The default set on a CPU without native bf16, where bf16 is emulated (26 times slower than fp32 on
# the AVX2 machine of docs/speed.md).
FP32_CPU_VARIANTS = ("reference", "toolkit-fp32", "toolkit-fp32+cl", "toolkit-fp32+fused", "toolkit-fp32+compile")


def default_variants(device: torch.device) -> tuple[str, ...]:
    """The variants ``bench perf`` times on ``device`` unless told: the CUDA set, the bf16 set on a
    CPU with native bf16, the fp32 set on any other CPU."""
    if device.type == "cuda":
        return CUDA_VARIANTS
    return PerfConfig.variants if default_precision(device) == "bf16" else FP32_CPU_VARIANTS


def default_variant(device: torch.device) -> str:
    """The toolkit's default path on ``device`` as a variant name: its default precision with fused
    Adam, replayed from a CUDA graph on CUDA (as ``bench run`` trains by default)."""
    graph = "+graph" if default_cuda_graph(device, compile=False) else ""
    return f"toolkit-{default_precision(device)}+fused{graph}"


FLAGS = {"cl": "channels_last", "fused": "fused_optimizer", "compile": "compile", "graph": "cuda_graph",
         "simul": "simultaneous"}


def _copies_flag(flag: str) -> int | None:
    return int(flag[1:]) if flag[:1] == "x" and flag[1:].isdigit() and int(flag[1:]) > 0 else None


def variant_settings(name: str) -> dict[str, object]:
    """The TrainConfig fields a toolkit variant name sets, e.g. ``toolkit-bf16+fused`` ->
    {"precision": "bf16", "fused_optimizer": True}; ValueError for a name that is not one."""
    head, *flags = name.split("+")
    precision = head.removeprefix("toolkit-")
    if (not head.startswith("toolkit-") or precision not in PRECISIONS
            or any(f not in FLAGS and _copies_flag(f) is None for f in flags)):
        raise ValueError(f"unknown variant {name!r}: reference, or toolkit-<{'|'.join(PRECISIONS)}> "
                         f"with any of {', '.join('+' + f for f in FLAGS)}, +x<K>")
    return {"precision": precision, **{FLAGS[f]: True for f in flags if f in FLAGS}}


def variant_copies(name: str) -> int:
    """How many seeds a variant trains at once (``+x<K>``; 1 without it)."""
    return next((k for k in map(_copies_flag, name.split("+")[1:]) if k), 1)


def variant_name(config: TrainConfig) -> str:
    """The variant name of a training configuration's speed settings (inverse of variant_settings)."""
    return f"toolkit-{config.precision}" + "".join(f"+{f}" for f, field in FLAGS.items() if getattr(config, field))


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


MATMUL_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_gflops(device: torch.device, dtype: torch.dtype, size: int | None = None, repeats: int = 5) -> float:
    """Median GFLOP/s of a [size x size] @ [size x size] product (2 size^3 FLOPs); by default
    size 2048 on a CPU and 8192 on a GPU (large enough to reach its peak)."""
    size = size or (8192 if device.type == "cuda" else 2048)
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


def seeded_networks(suite_name: str, device: torch.device):
    """(suite, G, D): the suite's networks as seed 0 initialises them, on ``device``."""
    suite = SUITES[suite_name]
    torch.manual_seed(0)
    G, D = build_networks(suite.latent.input_dim, suite.latent.q_dim, suite.network)
    return suite, G.to(device), D.to(device)


def flops_per_image(one_iteration, batch_size: int) -> float:
    """FLOPs of one call of ``one_iteration`` (a whole training step) per image, counted by
    torch.utils.flop_counter (matmuls and convolutions, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        one_iteration()
    return counter.get_total_flops() / batch_size


def step_flops_per_image(suite_name: str, batch_size: int, device: torch.device) -> float:
    """FLOPs per image of the toolkit's step (D/Q update and G update, forward and backward;
    the G update computes no weight gradients for D)."""
    suite, G, D = seeded_networks(suite_name, device)
    step = InfoGANStep(suite.latent, G, D, TrainConfig(batch_size=batch_size), device)
    images = torch.randint(0, 256, (batch_size, *_image_shape(suite)), dtype=torch.uint8, device=device)
    return flops_per_image(lambda: step(images), batch_size)


def recipe_flops_per_image(suite_name: str, batch_size: int, device: torch.device) -> float:
    """FLOPs per image of the paper recipe's step: the reference loop's, whose G update also
    computes D's weight gradients (the count the floor is defined on)."""
    suite = SUITES[suite_name]
    images = torch.randint(0, 256, (4 * batch_size, *_image_shape(suite)), dtype=torch.uint8)
    return flops_per_image(reference_loop(PerfConfig(suite_name, batch_size), images, device), batch_size)


def floor_images_per_s(peak_gflops: float, flops_per_image: float) -> float:
    """Images/s of a step costing ``flops_per_image`` run at ``peak_gflops`` throughout; with the
    matmul peak at the device's default precision and the recipe's count, the floor."""
    return peak_gflops * 1e9 / flops_per_image


def _image_shape(suite) -> tuple[int, int, int]:
    return (suite.network.image_channels, suite.network.image_size, suite.network.image_size)


def time_block(run_one: Callable[[], object], iterations: int, device: torch.device) -> float:
    """Seconds of ``iterations`` calls of ``run_one``, the device drained before and after."""
    synchronise(device)
    start = time.perf_counter()
    for _ in range(iterations):
        run_one()
    synchronise(device)
    return time.perf_counter() - start


def reference_loop(config: PerfConfig, images: torch.Tensor, device: torch.device):
    """A plain loop as public ports write it; returns a callable doing one iteration."""
    suite, G, D = seeded_networks(config.suite, device)
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


def toolkit_loop(config: PerfConfig, variant: str, images: torch.Tensor, device: torch.device,
                 adapt_networks: Callable[[nn.Module, nn.Module], None] | None = None,
                 adapt_step: Callable[[InfoGANStep], None] | None = None):
    """The toolkit's step on index-drawn batches of the on-device uint8 dataset (with ``+x<K>``,
    K copies stacked, each drawing its own batch and latent); each call returns what the step
    returns. For one copy only, ``adapt_networks(G, D)`` may change the seeded networks in place
    before the step is built (a benchmark swapping in other forms of their layers), and
    ``adapt_step(step)`` the step once built (a benchmark replacing its optimisers)."""
    copies = variant_copies(variant)
    if (adapt_networks is not None or adapt_step is not None) and copies != 1:
        raise ValueError("adapt_networks and adapt_step apply to one copy, not to stacked ones")
    train = replace(SUITES[config.suite].profiles["paper"].train, batch_size=config.batch_size,
                    **variant_settings(variant))
    data = images.to(device)
    if copies == 1:
        suite, G, D = seeded_networks(config.suite, device)
        if adapt_networks is not None:
            adapt_networks(G, D)
        step = InfoGANStep(suite.latent, G, D, train, device)
        if adapt_step is not None:
            adapt_step(step)
        rng = torch.Generator(device=device).manual_seed(0)
        shape = (config.batch_size,)
    else:
        trainer = StackedTrainer(SUITES[config.suite].latent, SUITES[config.suite].network, train, data, device,
                                 list(range(copies)))
        step, rng = trainer.step, trainer.latent_rngs
        shape = (copies, config.batch_size)
    index_rng = torch.Generator(device=device).manual_seed(0)

    def one() -> torch.Tensor:
        index = torch.randint(len(data), shape, device=device, generator=index_rng)
        return step(data[index], rng)

    return one


def variant_loop(config: PerfConfig, variant: str, images: torch.Tensor, device: torch.device):
    """One iteration of ``variant`` as a callable: the reference loop for ``reference``, else the
    toolkit's step in that variant."""
    if variant == "reference":
        return reference_loop(config, images, device)
    return toolkit_loop(config, variant, images, device)


def random_images(suite_name: str, count: int) -> torch.Tensor:
    """``count`` uint8 images of the suite's shape, drawn with seed 0 (a step's cost does not
    depend on the pixels)."""
    shape = _image_shape(SUITES[suite_name])
    return torch.randint(0, 256, (count, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def run_perf(config: PerfConfig, images: torch.Tensor, device: torch.device, progress: bool = False) -> pd.DataFrame:
    """One row per variant: median images/s, the spread over repeats, peak memory, and the ratios.

    The floor is the images/s at which the paper recipe's step (the reference loop's FLOPs per
    image) would run at the device's measured matmul throughput in its default precision: bf16
    where bf16 is native, else fp32 (where bf16 is emulated its peak is not measured: NaN). The
    peak is read before the first round of the variants and after every round, and the floor takes
    the median of those readings, so that one slow moment of the machine does not set it. The
    toolkit step's own count is lower (its G update skips D's weight gradients) and is reported too.

    On the CPU the toolkit keeps freed heap memory for reuse (:mod:`models.host_heap`), a setting
    of the whole process: it is made before anything is timed, so the reference loop runs with it
    too and the ratios leave its gain out.
    """
    if device.type == "cpu":
        keep_freed_memory()
    for name in config.variants:
        if name != "reference":
            variant_settings(name)  # unknown names fail before anything is timed
    reference_flops = recipe_flops_per_image(config.suite, config.batch_size, device)
    toolkit_flops = step_flops_per_image(config.suite, config.batch_size, device)
    floor_precision = default_precision(device)  # bf16 exactly where bf16 is native
    measured = [precision for precision in MATMUL_DTYPES if precision in ("fp32", floor_precision)]
    readings: dict[str, list[float]] = {precision: [] for precision in measured}

    def read_peaks() -> None:
        for precision in measured:
            readings[precision].append(matmul_gflops(device, MATMUL_DTYPES[precision]))

    read_peaks()
    loops, seconds, memory = {}, {name: [] for name in config.variants}, {}
    bar = tqdm(total=len(config.variants) * config.repeats, desc="perf", unit="block", disable=not progress,
               leave=False)
    # Each variant is built, warmed up and timed once under the memory probe; the other repeats
    # then go round the variants in turn, so drift in the machine's speed hits them alike.
    for name in config.variants:
        with PeakMemory(device) as probe:
            loops[name] = variant_loop(config, name, images, device)
            for _ in range(config.warmup):
                loops[name]()
            seconds[name].append(time_block(loops[name], config.iterations, device))
        memory[name] = probe.peak_bytes / 2**20
        bar.update()
    read_peaks()
    for _ in range(config.repeats - 1):
        for name in config.variants:
            seconds[name].append(time_block(loops[name], config.iterations, device))
            bar.update()
        read_peaks()
    bar.close()
    # (median, min, max) of each precision's readings; NaN for the precision left unmeasured
    peaks = {precision: (statistics.median(values), min(values), max(values)) for precision, values in readings.items()}
    floor = floor_images_per_s(peaks[floor_precision][0], reference_flops)
    rows = []
    for name in config.variants:
        rates = [config.iterations * config.batch_size * variant_copies(name) / s for s in seconds[name]]
        rows.append({"variant": name, "seeds_at_once": variant_copies(name), "images_per_s": statistics.median(rates),
                     "min_images_per_s": min(rates), "max_images_per_s": max(rates), "peak_memory_mb": memory[name]})
    table = pd.DataFrame(rows)
    reference = table.loc[table["variant"] == "reference", "images_per_s"]
    table["ratio_to_reference"] = table["images_per_s"] / reference.iloc[0] if len(reference) else np.nan
    table["share_of_floor"] = table["images_per_s"] / floor
    table["reference_step_mflop_per_image"] = reference_flops / 1e6
    table["toolkit_step_mflop_per_image"] = toolkit_flops / 1e6
    for precision in MATMUL_DTYPES:
        median, low, high = peaks.get(precision, (float("nan"),) * 3)
        table[f"matmul_gflops_{precision}"] = median
        table[f"matmul_gflops_{precision}_min"] = low
        table[f"matmul_gflops_{precision}_max"] = high
    table["peak_readings"] = len(readings["fp32"])
    table["floor_precision"] = floor_precision
    table["floor_images_per_s"] = floor
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


SMOKE = PerfConfig(batch_size=16, iterations=2, warmup=1, repeats=1, variants=("reference", "toolkit-fp32", "toolkit-bf16"))


def training_images(suite_name: str, data_dir: str | None, download: bool = True, limit: int | None = None) -> torch.Tensor:
    """The suite's training images (uint8 [N, C, H, W], on the CPU), the first ``limit`` if given."""
    from bench.runner import RunOptions, Runner

    suite = SUITES[suite_name]
    loader = Runner(RunOptions(out=Path("."), device=torch.device("cpu"), data_dir=data_dir, download=download))
    return loader.split(suite.dataset, suite.train_split).images[:limit]


def summary_lines(table: pd.DataFrame) -> list[str]:
    """What a reader wants from the table: each variant's images/s, ratio, share of the floor, memory."""
    first = table.iloc[0]
    floor = f"{first['floor_precision']} floor"

    def peak(precision: str) -> str:
        if pd.isna(first[f"matmul_gflops_{precision}"]):
            return "not native here, not measured"
        return (f"{first[f'matmul_gflops_{precision}']:.0f} GFLOP/s ({first[f'matmul_gflops_{precision}_min']:.0f}-"
                f"{first[f'matmul_gflops_{precision}_max']:.0f})")

    lines = [f"device {first['device']} ({first['threads']} threads), batch {first['batch_size']}, "
             f"{first['iterations']} iterations x {first['repeats']} repeats, median images/s",
             f"matmul peak, median of {first['peak_readings']} readings: fp32 {peak('fp32')}, bf16 {peak('bf16')}; "
             f"recipe step "
             f"{first['reference_step_mflop_per_image']:.0f} MFLOP/image (toolkit step "
             f"{first['toolkit_step_mflop_per_image']:.0f}); {floor} {first['floor_images_per_s']:.0f} images/s"]
    width = max(len(v) for v in table["variant"])
    for row in table.itertuples():
        ratio = "(no reference)" if pd.isna(row.ratio_to_reference) else f"{row.ratio_to_reference:5.2f}x reference"
        lines.append(f"  {row.variant:{width}s}  {row.images_per_s:8.0f} images/s "
                     f"({row.min_images_per_s:.0f}-{row.max_images_per_s:.0f})  {ratio}  "
                     f"{100 * row.share_of_floor:5.1f}% of {floor}  peak memory {row.peak_memory_mb:7.1f} MB")
    return lines
