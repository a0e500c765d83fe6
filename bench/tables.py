"""Writing the tables, figures and report page of an output folder, one process at a time.

Why a lock and not only atomic renames: every file the rebuild writes is already replaced
by one rename (:mod:`bench.io`), so no reader ever sees half a file. But the rebuild writes
a *set* (runs.csv, comparison.csv, summary.csv, the suite figures, report.html) computed
from one reading of the run records. Two processes rebuilding at once (two terminals on one
output folder) could interleave their renames and leave runs.csv from one reading beside
comparison.csv from another, e.g. one that does not yet count a run the other already
shows. The lock (``<out>/tables/.lock``, see :mod:`bench.locks`) serialises whole rebuilds,
and each rebuild reads the records only once it holds the lock, so the set on disk always
comes from one reading and the last rebuild reflects every run ended before it started.
A rebuild waits for the lock (a rebuild takes seconds) rather than skipping, so the process
that ends last always leaves tables that include its own runs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench import io as bio
from bench.locks import FolderLock
from bench.state import STATE

TABLES_LOCK_TIMEOUT = 600.0  # seconds to wait for another process's rebuild


def check_records(out: Path) -> int:
    """Parse every record a rebuild reads (config.json, metrics.json, state.json, history.csv,
    confusion.csv); :class:`bench.io.RecordError` names the first damaged one. Returns the number
    of run folders."""
    from bench.aggregate import run_folders
    from bench.runner import CONFIG, CONFUSION, HISTORY, METRICS

    folders = run_folders(out)
    for folder in folders:
        config = bio.read_record(folder / CONFIG)
        identity = config.get("identity")
        if not isinstance(identity, dict) or not isinstance(identity.get("train"), dict):
            raise bio.RecordError(f"{folder / CONFIG} has no run identity; delete its run folder or rerun with --force")
        for name in (METRICS, STATE):
            if (folder / name).is_file():
                bio.read_record(folder / name)
        for name in (HISTORY, CONFUSION):
            path = folder / name
            if path.is_file():
                try:
                    pd.read_csv(path)
                except (ValueError, OSError, UnicodeDecodeError) as exc:
                    reason = " ".join(str(exc).split())[:120]
                    raise bio.RecordError(f"{path} is damaged ({reason}); delete its run folder or rerun with --force"
                                          ) from None
    return len(folders)


def write_tables(out: Path, timeout: float = TABLES_LOCK_TIMEOUT) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild every table, figure and report.html under ``out`` while holding the tables lock;
    returns (runs, comparison). Stale temporary files of dead writers are removed first."""
    from bench.aggregate import write_report

    out = Path(out)
    lock = FolderLock(out / "tables")
    lock.wait(timeout)
    try:
        for folder in (out, out / "tables", out / "figures", out / "reference"):
            bio.remove_stale_temps(folder)
        check_records(out)
        return write_report(out)
    finally:
        lock.release()
