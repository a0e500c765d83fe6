"""The command line: ``python -m bench run | report | figures | perf | list``.

Every mistake of the user ends in one line on stderr and a non-zero exit; ``--debug`` (or
``BENCH_DEBUG=1``) shows the traceback instead. Exit statuses:

    0    every run of the plan has finished
    1    a run failed (diverged), too many failed (--max-failures), or the data, a run
         folder or a write (e.g. a full disk) is at fault
    2    usage: a bad option value, unknown name, or an output folder that cannot be used
    3    some runs were left to another live process that is training them
    130  interrupted (Ctrl-C or SIGTERM): run the same command again to resume
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import torch

from datasets import DatasetError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """Bad command-line input; the message is one line."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage over several lines otherwise
        raise UsageError(message)


def choose(kind: str, value: str, valid: list[str]) -> str:
    if value in valid:
        return value
    close = difflib.get_close_matches(value, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(f"unknown {kind} {value!r}{hint}; valid {kind}s: {', '.join(valid)}")


def parse_names(kind: str, text: str, valid: list[str]) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"no {kind} given; valid {kind}s: {', '.join(valid)}")
    if len(set(names)) != len(names):
        raise UsageError(f"a {kind} is repeated in {text!r}")
    return [choose(kind, n, valid) for n in names]


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' or '0-2' (or a mix) -> distinct non-negative integers."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            if "-" in part[1:]:
                low, high = (int(x) for x in part.split("-", 1))
                if high < low:
                    raise ValueError
                seeds.extend(range(low, high + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise UsageError(f"bad seed list {text!r}: give integers like 0,1,2 or a range like 0-2") from None
    if any(s < 0 for s in seeds):
        raise UsageError(f"bad seed list {text!r}: seeds must be non-negative")
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"bad seed list {text!r}: a seed is repeated")
    return seeds


def resolve_device(name: str) -> torch.device:
    name = choose("device", name, ["auto", "cpu", "cuda"])
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA device is available; use --device cpu or auto")
    return torch.device(name)


def _int_at_least(minimum: int, description: str):
    """An argparse type: an integer >= ``minimum``, else 'must be a <description> integer'."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a {description} integer, not {text!r}")
        return value
    return parse


positive_int = _int_at_least(1, "positive")
non_negative_int = _int_at_least(0, "non-negative")


def check_output_folder(path: str) -> Path:
    """``path`` as a folder we can write into, without creating it yet (nothing is written
    before the whole command has been checked)."""
    from bench import io as bio

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output folder {folder} is a file; give a folder with --out")
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"cannot write to output folder {folder} ({existing} is a file); choose another with --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write to output folder {folder} ({existing} is read-only); choose another with --out")
    if existing == folder:
        try:
            bio.probe_writable(folder)
        except OSError as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(f"cannot write to output folder {folder} ({reason}); choose another with --out") from None
    return folder


def make_output_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {folder} ({exc.strerror or exc}); choose another with --out"
                         ) from None
    return folder


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (``kill``) into KeyboardInterrupt, so locks are released on the way out."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class StderrHandler(logging.StreamHandler):
    """A logging handler that writes to whatever ``sys.stderr`` is at the time of the record."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logging() -> None:
    """Warnings from the libraries' loggers (a cache rebuilt, say) as one 'bench: warning:' line."""
    root = logging.getLogger()
    if not any(isinstance(h, StderrHandler) for h in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("bench: %(levelname)s: %(message)s"))
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    from bench.suites import MODELS, PROFILES, SUITES

    parser = OneLineParser(prog="python -m bench", description="InfoGAN disentanglement benchmark")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = commands.add_parser("run", help="train and evaluate every (suite, model, seed), then write the tables")
    run.add_argument("--suite", required=True, help=f"comma-separated suites: {', '.join(SUITES)}")
    run.add_argument("--models", default="infogan,gan", help=f"comma-separated models: {', '.join(MODELS)}")
    run.add_argument("--seeds", default="0", help="seeds, e.g. 0,1,2 or 0-2 (default 0)")
    run.add_argument("--profile", default="paper", help=f"training profile: {', '.join(PROFILES)} (default paper)")
    run.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    run.add_argument("--precision", default="auto",
                     help="auto (bf16 where the device has native bf16, else fp32), fp32 or bf16 "
                          "(autocast, fp32 master weights)")
    run.add_argument("--fused-adam", action=argparse.BooleanOptionalAction, default=True,
                     help="Adam's fused kernel (default on)")
    run.add_argument("--compile", action="store_true", help="torch.compile G and D (default off)")
    run.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None,
                     help="replay each training step from a CUDA graph (default: on with a CUDA device)")
    run.add_argument("--seeds-together", type=positive_int, default=1,
                     help="train up to N fresh seeds of a suite and model at once in this process, as stacked "
                          "copies (fills a GPU; slower on a CPU; default 1)")
    run.add_argument("--data-dir", default=None, help="dataset folder (default $BENCH_DATA_DIR, then the user cache)")
    run.add_argument("--out", default="results", help="output folder (default results)")
    run.add_argument("--iterations", type=positive_int, default=None,
                     help="training iterations per run, replacing the profile's (part of the run's identity)")
    run.add_argument("--batch-size", type=positive_int, default=None,
                     help="batch size, replacing the profile's (part of the run's identity)")
    run.add_argument("--g-latent", choices=("fresh", "reuse"), default=None,
                     help="G's update on a new latent draw (fresh, as the official code) or on the D update's fakes "
                          "(reuse; the profiles' default); part of the run's identity")
    run.add_argument("--updates", choices=("alternating", "simultaneous"), default=None,
                     help="D then G, G's loss through the updated D (alternating; the profiles' default), or both "
                          "from one pass through D (simultaneous: one D pass fewer); part of the run's identity")
    run.add_argument("--max-failures", type=non_negative_int, default=None,
                     help="stop the plan when more than N runs have failed (default: no limit)")
    run.add_argument("--force", action="store_true",
                     help="start runs again from scratch, also those that have ended or hold other settings")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--launcher", default="local",
                     help="local (this machine; default) or ray (a Ray cluster, one task per run)")
    run.add_argument("--jobs", type=positive_int, default=None,
                     help="runs at once: local worker processes (default 1: in this process); "
                          "with ray, the most tasks in flight (default: as many as the cluster takes)")
    run.add_argument("--threads", type=positive_int, default=None,
                     help="torch threads per run (default: all with --jobs 1, an equal share with --jobs N, "
                          "1 per Ray task, which asks the cluster for that many CPUs)")
    run.add_argument("--retries", type=non_negative_int, default=None,
                     help="with workers: attempts after the first of a run that raised or whose worker died, "
                          "each resuming from its last checkpoint (default 2)")
    run.add_argument("--ray-address", default=None,
                     help="the Ray cluster: auto (started with 'ray start' here, or $RAY_ADDRESS) or HOST:PORT "
                          "(default: start a local one)")
    run.add_argument("--ray-storage", default=None,
                     help="shared (default: the workers write --out, a folder every machine sees) or driver "
                          "(the workers send their runs' files back and this process writes them)")
    run.add_argument("--debug", action="store_true", help="show tracebacks")

    report = commands.add_parser("report", help="rebuild the tables and figures from the run records")
    report.add_argument("--out", default="results", help="output folder (default results)")
    report.add_argument("--debug", action="store_true", help="show tracebacks")

    figures = commands.add_parser("figures", help="redraw a run's traversal figures from its checkpoint")
    figures.add_argument("--run", required=True, help="run folder, e.g. results/runs/mnist/infogan/seed0")
    figures.add_argument("--codes", default=None, help="comma-separated codes to traverse (default: all)")
    figures.add_argument("--range", nargs=2, type=float, default=(-2.0, 2.0), metavar=("LOW", "HIGH"),
                         help="values of a continuous code (default -2 2)")
    figures.add_argument("--rows", type=int, default=10, help="fixed noise vectors, one per row (default 10)")
    figures.add_argument("--steps", type=int, default=10, help="values of a continuous code (default 10)")
    figures.add_argument("--debug", action="store_true", help="show tracebacks")

    perf = commands.add_parser("perf", help="training speed: a plain reference loop against the toolkit's trainer")
    perf.add_argument("--suite", default="mnist", help=f"suite whose networks and data to use: {', '.join(SUITES)}")
    perf.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    perf.add_argument("--variants", default=None,
                      help="comma-separated: reference, toolkit-fp32|bf16 with +cl, +fused, +compile, +graph (CUDA), "
                           "+simul (simultaneous updates), +x<K> (K seeds at once) (default: a set for the device)")
    perf.add_argument("--batch-size", type=positive_int, default=128, help="batch size (default 128)")
    perf.add_argument("--iterations", type=positive_int, default=40, help="timed iterations per repeat (default 40)")
    perf.add_argument("--warmup", type=non_negative_int, default=5, help="untimed iterations first (default 5)")
    perf.add_argument("--repeats", type=positive_int, default=5, help="repeats; the median is reported (default 5)")
    perf.add_argument("--smoke", action="store_true", help="a few tiny iterations of three variants (seconds)")
    perf.add_argument("--data-dir", default=None, help="dataset folder (default $BENCH_DATA_DIR, then the user cache)")
    perf.add_argument("--out", default="results", help="output folder; the table goes to <out>/perf/perf.csv")
    perf.add_argument("--debug", action="store_true", help="show tracebacks")

    commands.add_parser("list", help="list suites, models, profiles and metrics")
    return parser


def command_list() -> int:
    from bench.suites import MODELS, SUITES
    from metrics import METRICS

    print("suites:")
    for suite in SUITES.values():
        print(f"  {suite.name:10s} {suite.description}")
        for profile in suite.profiles.values():
            print(f"    profile {profile.name:7s} {profile.description}")
    print("models:")
    for name, mutual_info in MODELS.items():
        print(f"  {name:10s} " + ("InfoGAN: G trained with the MI term" if mutual_info
                                  else "GAN baseline: same nets, Q trained on detached fakes, no MI gradient to G"))
    print("metrics:")
    for info in METRICS.values():
        print(f"  {info.name:18s} {info.description}")
    return 0


def launch_options(args: argparse.Namespace):
    """The launcher settings of ``bench run`` (see bench.launchers), checked."""
    from bench.launchers import DEFAULT_RETRIES, LAUNCHERS, LaunchOptions
    from bench.worker import SHARED, STORAGES

    launcher = choose("launcher", args.launcher, list(LAUNCHERS))
    if launcher != "ray":
        for option, value in (("--ray-address", args.ray_address), ("--ray-storage", args.ray_storage)):
            if value is not None:
                raise UsageError(f"{option} applies to --launcher ray only")
    storage = choose("storage", args.ray_storage, list(STORAGES)) if args.ray_storage else SHARED
    retries = DEFAULT_RETRIES if args.retries is None else args.retries
    return LaunchOptions(launcher=launcher, jobs=args.jobs, retries=retries, threads=args.threads,
                         storage=storage, ray_address=args.ray_address)


@contextmanager
def ray_cluster(launch, device_name: str) -> Iterator[tuple[object, torch.device]]:
    """Connected to the Ray cluster ``launch`` names for the whole block: (launch options with the
    runs' device, the driver's own device); a local cluster started here is shut down after."""
    from dataclasses import replace

    from bench.ray_launch import RayUnavailable, cluster_device, connect, disconnect

    try:
        cluster = connect(launch.ray_address)
    except RayUnavailable as exc:
        raise UsageError(str(exc)) from None
    try:
        try:
            device = cluster_device(choose("device", device_name, ["auto", "cpu", "cuda"]), cluster)
        except RayUnavailable as exc:
            raise UsageError(str(exc)) from None
        here = device if device.type == "cpu" or torch.cuda.is_available() else torch.device("cpu")
        yield replace(launch, device=device), here
    finally:
        disconnect(cluster)


@dataclass(frozen=True)
class PlanArgs:
    """The checked plan options of ``bench run``."""

    suites: list[str]
    models: list[str]
    seeds: list[int]
    precision: str
    out: Path


def check_plan_args(args: argparse.Namespace) -> PlanArgs:
    from bench.suites import MODELS, SUITES
    from models.infogan import PRECISIONS

    suites = parse_names("suite", args.suite, list(SUITES))
    models = parse_names("model", args.models, list(MODELS))
    seeds = parse_seeds(args.seeds)
    for suite in suites:
        choose("profile", args.profile, list(SUITES[suite].profiles))
    precision = choose("precision", args.precision, ["auto", *PRECISIONS])
    return PlanArgs(suites, models, seeds, precision, check_output_folder(args.out))


def command_run(args: argparse.Namespace) -> int:
    launch = launch_options(args)
    if launch.launcher != "ray":
        device = resolve_device(args.device)
        return run_plan(args, check_plan_args(args), launch, device)
    from bench.ray_launch import RayUnavailable, import_ray

    try:
        import_ray()
    except RayUnavailable as exc:
        raise UsageError(str(exc)) from None
    checked = check_plan_args(args)  # before the minutes a cluster may take
    with ray_cluster(launch, args.device) as (launch, here):
        return run_plan(args, checked, launch, here)


def run_plan(args: argparse.Namespace, checked: PlanArgs, launch, device: torch.device) -> int:
    """Run and tabulate the plan of ``args`` with the launcher ``launch``; the exit status.
    ``device`` is this process's device (the runs' too unless ``launch.device`` says otherwise)."""
    from bench.launchers import run_plan as launch_plan
    from bench.runner import RunOptions, Runner, TooManyFailures, plan_runs
    from bench.tables import write_tables

    from models.infogan import default_cuda_graph, default_precision

    suites, models, seeds, precision, out = (checked.suites, checked.models, checked.seeds, checked.precision,
                                             checked.out)
    runs_on = launch.device or device
    if precision == "auto":
        precision = default_precision(runs_on)
    cuda_graph = default_cuda_graph(runs_on, args.compile) if args.cuda_graph is None else args.cuda_graph
    if cuda_graph and runs_on.type != "cuda":
        raise UsageError(f"--cuda-graph needs a CUDA device; the runs' device is {runs_on}")
    if cuda_graph and args.compile:
        raise UsageError("--cuda-graph and --compile are alternatives: choose one")
    if args.seeds_together > 1 and (args.compile or not launch.in_process):
        raise UsageError("--seeds-together applies to runs in this process (--launcher local --jobs 1) "
                         "without --compile")
    if args.updates == "simultaneous" and args.g_latent == "fresh":
        raise UsageError("--updates simultaneous takes G's loss on the D update's fakes; it cannot take --g-latent fresh")
    plan = plan_runs(suites, models, seeds, args.profile)
    options = RunOptions(out=out, device=device, precision=precision, fused_optimizer=args.fused_adam,
                         compile=args.compile, cuda_graph=cuda_graph, seeds_together=args.seeds_together,
                         data_dir=args.data_dir,
                         force=args.force, progress=not args.no_progress, iterations=args.iterations,
                         batch_size=args.batch_size, g_latent=args.g_latent, updates=args.updates,
                         max_failures=args.max_failures)
    first = options.train_config(plan[0])
    where = "" if launch.in_process else (
        f"; {launch.jobs} local worker processes" if launch.launcher == "local" else
        f"; Ray tasks ({launch.storage} storage" + (f", {launch.jobs} at once)" if launch.jobs else ")"))
    print(f"Plan: {len(plan)} run(s) = suites {','.join(suites)} x models {','.join(models)} x seeds "
          f"{','.join(map(str, seeds))}; profile {args.profile} "
          f"({first.iterations} iterations of batch {first.batch_size} each); "
          f"device {launch.device or device}, precision {precision}"
          f"{', fused Adam' if args.fused_adam else ''}{', compiled' if args.compile else ''}"
          f"{', CUDA graphs' if cuda_graph else ''}"
          f"{', G updated on a fresh latent draw' if first.fresh_g_latent else ''}"
          f"{', simultaneous D and G updates' if first.simultaneous else ''}"
          f"{f', up to {args.seeds_together} seeds at once' if args.seeds_together > 1 else ''}; output {out}{where}",
          flush=True)
    runner = Runner(options)
    runner.preflight(plan)  # data and run folders checked before anything is written
    make_output_folder(out)
    stopped = ""
    with sigterm_as_interrupt():
        try:
            outcomes = launch_plan(runner, plan, launch, progress=not args.no_progress)
        except TooManyFailures as exc:
            outcomes, stopped = exc.outcomes, str(exc)
        write_tables(out)
    print(f"Tables: {out / 'tables' / 'runs.csv'}, {out / 'tables' / 'comparison.csv'}")
    if stopped:
        print(f"bench: error: {stopped}", file=sys.stderr)
        return EXIT_FAILURE
    failed = [o for o in outcomes if o.failed]
    if failed:
        print(f"{len(failed)} run(s) failed: " + "; ".join(f"{o.spec.label}: {o.reason}" for o in failed),
              file=sys.stderr)
        return EXIT_FAILURE
    locked = [o for o in outcomes if o.status == "locked"]
    if locked:
        print(f"{len(locked)} run(s) left to another process that is training them ("
              + "; ".join(f"{o.spec.label}: {o.reason}" for o in locked)
              + "); run the same command again once it has ended", file=sys.stderr)
        return EXIT_LOCKED
    return EXIT_OK


def command_report(args: argparse.Namespace) -> int:
    from bench.tables import write_tables

    out = Path(args.out)
    if not (out / "runs").is_dir():
        raise UsageError(f"no run records under {out / 'runs'}; run 'python -m bench run' first or pass --out")
    runs, comparison = write_tables(out)
    print(f"{len(runs)} run(s); tables in {out / 'tables'}, figures in {out / 'figures'}, "
          f"page {out / 'report.html'}")
    return 0


def command_figures(args: argparse.Namespace) -> int:
    from bench.traversals import TraversalError, TraversalSettings, write_traversals

    codes = None if args.codes is None else [c.strip() for c in args.codes.split(",") if c.strip()]
    if codes == []:
        raise UsageError("no code given to --codes")
    settings = TraversalSettings(codes, args.range[0], args.range[1], args.rows, args.steps)
    try:
        paths = write_traversals(Path(args.run), settings)
    except TraversalError as exc:
        raise UsageError(str(exc)) from None
    print(f"{len(paths)} figure(s): " + ", ".join(str(p) for p in paths))
    return 0


def command_perf(args: argparse.Namespace) -> int:
    from bench.perf import (SMOKE, PerfConfig, default_variants, run_perf, summary_lines, training_images,
                            variant_settings, write_perf)
    from bench.suites import SUITES

    suite = choose("suite", args.suite, list(SUITES))
    device = resolve_device(args.device)
    if args.smoke:
        config = replace(SMOKE, suite=suite)
    else:
        config = PerfConfig(suite=suite, batch_size=args.batch_size, iterations=args.iterations,
                            warmup=args.warmup, repeats=args.repeats, variants=default_variants(device))
    if args.variants is not None:
        variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
        for name in variants:
            if name != "reference":
                try:
                    variant_settings(name)
                except ValueError as exc:
                    raise UsageError(str(exc)) from None
        if not variants:
            raise UsageError("no variant given to --variants")
        config = replace(config, variants=variants)
    out = check_output_folder(args.out)
    images = training_images(suite, args.data_dir, limit=2000 if args.smoke else None)
    if len(images) < config.batch_size:
        raise UsageError(f"--batch-size {config.batch_size} is larger than the {len(images)} training images")
    print(f"perf: suite {suite}, variants {', '.join(config.variants)}", flush=True)
    table = run_perf(config, images, device, progress=True)
    make_output_folder(out)
    path = write_perf(table, out)
    print("\n".join(summary_lines(table)))
    print(f"Table: {path}")
    return 0


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    from bench.io import RecordError, WriteError, os_error_hint
    from bench.locks import LockHeld
    from bench.runner import PlanError, RunConflict

    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv or bool(os.environ.get("BENCH_DEBUG"))
    setup_logging()
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return command_list()
        if args.command == "report":
            return command_report(args)
        if args.command == "figures":
            return command_figures(args)
        if args.command == "perf":
            return command_perf(args)
        return command_run(args)
    except (UsageError, PlanError) as exc:
        if debug:
            raise
        print(f"bench: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except (DatasetError, RunConflict, RecordError) as exc:
        if debug:
            raise
        print(f"bench: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except LockHeld as exc:
        if debug:
            raise
        print(f"bench: error: {one_line(exc)}; wait for it to end, or delete {exc.folder / '.lock'} "
              f"if that process is gone", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:  # bench.io.WriteError names the file and says what to do
        if debug:
            raise
        if isinstance(exc, WriteError):
            message = one_line(exc)
        else:
            where = f" ({exc.filename})" if exc.filename else ""
            message = f"{exc.strerror or one_line(exc)}{where}; {os_error_hint(exc)}"
        print(f"bench: error: {message}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("bench: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: still one line, the traceback with --debug
        if debug:
            raise
        print(f"bench: internal error: {type(exc).__name__}: {one_line(exc)}; rerun with --debug for the traceback",
              file=sys.stderr)
        return EXIT_FAILURE
