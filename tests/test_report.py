"""The report page from hand-made run records, rendered in headless Chromium (every image
loaded, no console output or errors), and ``bench figures`` on a smoke run's checkpoint.

Without Chromium the rendering tests skip, unless the environment variable CI is set: then
they fail, so CI cannot pass without having looked at the page.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from bench.aggregate import collect_runs, write_report
from bench.cli import main
from bench.suite_figures import lowest_seeds, run_dir
from fake_runs import write_failed, write_finished, write_running

REASON = "training diverged at iteration 37: loss_d is nan"
ONE_PIXEL_GIF = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
SUITE_FIGURES = ["mnist_mi_curves.png", "mnist_test_accuracy.png", "mnist_metrics.png", "mnist_confusion.png"]
TRAVERSALS = [f"mnist_traversal_{code}_{model}.png" for code in ("cat", "c1", "c2") for model in ("infogan", "gan")]

# Appended by the test to a copy of the page (the page itself has no script): records resource
# errors, script errors, CSP violations and console errors/warnings, and, once the page has
# loaded, whether each image decoded, into <pre id="render-check">.
CHECKER = """<script>
(function () {
  var problems = [];
  window.addEventListener("error", function (e) {
    var t = e.target;
    problems.push(t && t !== window ? "failed to load <" + t.tagName + "> " + (t.alt || "") : "error: " + e.message);
  }, true);
  document.addEventListener("securitypolicyviolation", function (e) { problems.push("csp: " + e.violatedDirective); });
  ["error", "warn"].forEach(function (level) {
    var original = console[level];
    console[level] = function () {
      problems.push(level + ": " + Array.prototype.join.call(arguments, " "));
      original.apply(console, arguments);
    };
  });
  window.addEventListener("load", function () {
    var images = Array.prototype.map.call(document.images, function (img) {
      return {alt: img.alt, loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth};
    });
    var out = document.createElement("pre");
    out.id = "render-check";
    out.textContent = JSON.stringify({images: images, problems: problems});
    document.body.appendChild(out);
  });
})();
</script>"""


def metrics_of(accuracy: float, bound: float) -> dict[str, float]:
    return {"cluster_accuracy": accuracy, "nmi": accuracy - 0.1, "ari": accuracy - 0.2,
            "mi_lower_bound/cat": bound, "mi_lower_bound/c1": 0.3, "mi_lower_bound/c2": 0.2}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    for seed, accuracy in enumerate((0.90, 0.94, 0.95)):
        write_finished(out, "infogan", seed, metrics_of(accuracy, 2.2 + seed / 50))
    for seed, accuracy in enumerate((0.60, 0.70)):
        write_finished(out, "gan", seed, metrics_of(accuracy, 1.2 + seed / 10), confusion=seed == 1)
    write_failed(out, "gan", 2, REASON)
    write_running(out, "infogan", 3)
    write_report(out)
    return out


def test_report_writes_tables_figures_and_a_self_contained_page(report):
    for name in ("runs.csv", "comparison.csv", "summary.csv"):
        assert (report / "tables" / name).is_file()
    for name in SUITE_FIGURES + TRAVERSALS:
        assert (report / "figures" / name).is_file(), name
    page = (report / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page, re.I)
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert len(sources) == len(SUITE_FIGURES) + len(TRAVERSALS)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert REASON in page and "gan/seed2" in page and "infogan/seed3" in page and "30 of 100 iterations" in page
    for heading in ("Setup", "Summary", "InfoGAN − GAN", "Runs", "Figures: mnist", "All statistics"):
        assert heading in page
    assert page.count("<figcaption>") == len(SUITE_FIGURES) + 3


def test_the_lowest_seed_with_a_confusion_matrix_is_shown(report):
    """GAN seed 0 has no confusion.csv (an older run): seed 1 stands in for it."""
    runs = collect_runs(report)
    def has_confusion(model: str, seed: int) -> bool:
        return (run_dir(report, "mnist", model, seed) / "confusion.csv").is_file()

    assert lowest_seeds(runs, "mnist", has_confusion) == {"infogan": 0, "gan": 1}
    summary = pd.read_csv(report / "tables" / "summary.csv").set_index("model")
    assert summary.loc["gan", "n_failed"] == 1 and summary.loc["gan", "n_finished"] == 2


def test_old_records_without_confusion_or_test_accuracy_are_skipped_cleanly(tmp_path):
    folder = write_finished(tmp_path, "infogan", 0, metrics_of(0.9, 2.2), confusion=False)
    history = pd.read_csv(folder / "history.csv").drop(columns="test_accuracy")
    history.to_csv(folder / "history.csv", index=False)
    write_report(tmp_path)
    names = {p.name for p in (tmp_path / "figures").iterdir()}
    assert "mnist_confusion.png" not in names and "mnist_test_accuracy.png" not in names
    assert {"mnist_mi_curves.png", "mnist_metrics.png", "mnist_traversal_cat_infogan.png"} <= names
    assert "<img" in (tmp_path / "report.html").read_text(encoding="utf-8")


# -- headless Chromium ------------------------------------------------------------------------

def find_chromium() -> str:
    """The Chromium binary; skips the test without one, or fails it when CI is set."""
    for name in (os.environ.get("BENCH_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail("Chromium is not installed but CI is set: install it (apt-get install chromium) "
                    "or name the binary in BENCH_CHROMIUM")
    pytest.skip("Chromium is not installed (set CI to make this a failure)")


def render(chromium: str, page: Path, work: Path) -> tuple[dict, list[str]]:
    """Load a copy of ``page`` with CHECKER in headless Chromium; returns the checker's report
    and the console lines Chromium logged."""
    text = page.read_text(encoding="utf-8")
    checked = work / "checked.html"
    checked.write_text(text.replace("</head>", CHECKER + "</head>", 1), encoding="utf-8")
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={work / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--run-all-compositor-stages-before-draw", "--virtual-time-budget=5000", "--dump-dom",
         checked.as_uri()],
        capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="render-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"Chromium gave no result (exit {done.returncode}): {done.stderr[-2000:]}"
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(html.unescape(found.group(1))), console


def test_page_renders_in_chromium_with_every_image_loaded_and_no_console_errors(report, tmp_path):
    result, console = render(find_chromium(), report / "report.html", tmp_path)
    images = result["images"]
    assert len(images) == len(SUITE_FIGURES) + len(TRAVERSALS)
    assert [i["alt"] for i in images if not i["loaded"]] == []
    assert result["problems"] == []
    assert console == []


def test_the_chromium_check_sees_a_broken_image_and_a_console_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
                    f'<img alt="good" src="data:image/gif;base64,{ONE_PIXEL_GIF}">'
                    '<img alt="bad" src="data:image/png;base64,AAAA">'
                    '<img alt="gone" src="missing.png" onerror="console.error(\'gone\')"></body></html>')
    result, console = render(find_chromium(), page, tmp_path)
    assert {i["alt"]: i["loaded"] for i in result["images"]} == {"good": True, "bad": False, "gone": False}
    assert any("failed to load <IMG> bad" in p for p in result["problems"])
    assert any("error: gone" in p for p in result["problems"]) and any("gone" in line for line in console)


# -- bench figures ------------------------------------------------------------------------------

def test_bench_figures_draws_traversals_from_a_smoke_run_checkpoint(real_data_dir, tmp_path, capsys):
    import torch

    from bench.runner import RunOptions, Runner, RunSpec

    # A smoke run stopped right after its first checkpoint (iteration 10), to keep the test short.
    spec = RunSpec("mnist", "gan", 0, "smoke")
    options = RunOptions(out=tmp_path, device=torch.device("cpu"), data_dir=str(real_data_dir), progress=False)
    runner = Runner(options)
    save = runner._checkpoint

    def stop_after_checkpoint(trainer, run_dir, identity):
        save(trainer, run_dir, identity)
        raise KeyboardInterrupt

    runner._checkpoint = stop_after_checkpoint
    with pytest.raises(KeyboardInterrupt):
        runner.run_one(spec, 20)
    run = spec.directory(tmp_path)
    figures = run / "figures"
    assert (run / "checkpoint.pt").is_file() and not figures.exists()

    code = main(["figures", "--run", str(run), "--codes", "cat,c1", "--range", "-1", "1",
                 "--rows", "3", "--steps", "5"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in figures.glob("*.png")) == ["traversal_c1.png", "traversal_cat.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figures.glob("*.png"))
    assert main(["figures", "--run", str(run)]) == 0
    assert sorted(p.name for p in figures.glob("*.png")) == ["traversal_c1.png", "traversal_c2.png",
                                                              "traversal_cat.png"]

    capsys.readouterr()
    assert main(["figures", "--run", str(run), "--codes", "cat,c9"]) == 2
    err = capsys.readouterr().err
    assert "unknown code 'c9'; this run's codes: cat, c1, c2" in err and err.count("\n") == 1


@pytest.mark.parametrize("make, args, needle", [
    (None, [], "no run folder"),
    ("folder", [], "no checkpoint.pt in"),
    ("garbage", [], "cannot read"),
    ("folder", ["--range", "2", "-2"], "--range needs LOW < HIGH"),
    ("folder", ["--rows", "0"], "--rows must be at least 1"),
    ("folder", ["--steps", "1"], "--steps must be at least 2"),
    ("folder", ["--codes", ","], "no code given to --codes"),
    ("folder", ["--rows", "many"], "invalid int value: 'many'"),
])
def test_bad_figures_input_is_one_line_with_exit_2(make, args, needle, tmp_path, capsys):
    run = tmp_path / "runs" / "mnist" / "gan" / "seed0"
    if make:
        run.mkdir(parents=True)
    if make == "garbage":
        (run / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert main(["figures", "--run", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
