"""The README and docs/ point at things that exist: linked files, `python -m` modules, the CI's
test command."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def relative_links(text: str) -> list[str]:
    """Targets of markdown links and images that are paths inside the repository."""
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def module_names(text: str) -> set[str]:
    """Every module a `python -m NAME` command in the text runs."""
    return set(re.findall(r"python3?\s+-m\s+([A-Za-z_][\w.]*)", text))


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_linked_files_exist(document: Path) -> None:
    text = document.read_text()
    missing = [t for t in relative_links(text) if not (document.parent / t).exists()]
    assert not missing, f"{document.name} links to missing files: {missing}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_commands_name_modules_that_exist(document: Path) -> None:
    names = module_names(document.read_text())
    assert names, f"{document.name} names no `python -m` command"
    missing = sorted(n for n in names if importlib.util.find_spec(n) is None)
    assert not missing, f"{document.name} runs modules that do not exist: {missing}"


def test_link_and_module_readers_see_what_they_should() -> None:
    text = ("see [the page](docs/speed.md#top), ![a picture](docs/a.png), [web](https://x.org)\n"
            "and `python -m\nbench.benchmarks.x --y`")
    assert relative_links(text) == ["docs/speed.md", "docs/a.png"]
    assert module_names(text) == {"bench.benchmarks.x"}


def test_readme_test_command_is_the_ci_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci_command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    test_setup = next(line for line in readme.splitlines() if "'.[test]'" in line)
    assert test_setup.strip().endswith(ci_command), (test_setup, ci_command)
