"""The paper profile on faces3d: InfoGAN and the GAN baseline on the seeds asked for (default 0).

    python -m bench.benchmarks.faces3d_paper [--out results/bench_faces3d_paper] [--seeds 0]

Trains the runs (resuming any that were interrupted), rebuilds the tables, figures and report,
and prints per run the supervised disentanglement scores, the traversal attribute each code
moves, and the code x factor mutual-information matrix (nats). Apart from the precision (fp32
unless ``--precision bf16``), the runs take ``bench run``'s speed settings (fused Adam; on a GPU
the step replayed from a CUDA graph).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from bench import io as bio
from bench.aggregate import write_csv, write_report
from bench.runner import MI_MATRIX, RunOptions, Runner, RunSpec

SCORES = ("mig", "dci/disentanglement", "dci/completeness", "dci/informativeness_test", "sap", "modularity",
          "explicitness/test", "factor_vae", "beta_vae")


def summarise(out: Path, plan: list[RunSpec]) -> pd.DataFrame:
    write_report(out)
    rows = []
    for spec in plan:
        folder = spec.directory(out)
        record = bio.read_json(folder / "metrics.json")
        row = {"model": spec.model, "seed": spec.seed, "status": record["status"],
               "minutes": round(record.get("wall_seconds", float("nan")) / 60, 1)}
        row.update({k: round(record["metrics"].get(k, float("nan")), 3) for k in SCORES})
        for code in ("c1", "c2", "c3", "c4", "c5"):
            row[f"{code} moves"] = record.get("notes", {}).get(f"traversal/{code}/attribute", "")
            row[f"L_I/{code}"] = round(record["metrics"].get(f"mi_lower_bound/{code}", float("nan")), 3)
        rows.append(row)
        if (folder / MI_MATRIX).is_file():
            print(f"\n{spec.label}: mutual information between codes and factors (nats)")
            print(pd.read_csv(folder / MI_MATRIX, index_col=0).round(3).to_string())
    table = pd.DataFrame(rows)
    write_csv(table, out / "tables" / "paper_benchmark.csv")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bench_faces3d_paper")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    plan = [RunSpec("faces3d", model, int(seed), "paper") for model in ("infogan", "gan")
            for seed in args.seeds.split(",")]
    options = RunOptions(out=out, device=torch.device("cuda" if torch.cuda.is_available() else "cpu"),
                         precision=args.precision, data_dir=args.data_dir, progress=not args.no_progress)
    Runner(options).run_all(plan)
    print(summarise(out, plan).to_string(index=False))


if __name__ == "__main__":
    main()
