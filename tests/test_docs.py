"""The documentation: its code examples run, every algorithm has its page, every reference resolves inside the repository,
and the layers point down (``common/`` imports no algorithm)."""

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sb3_mixture.zoo import zoo_entries

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
CODE_BLOCK = re.compile(r"^\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", re.MULTILINE)


def python_examples() -> list[tuple[str, str]]:
    examples = []
    for page in sorted(DOCS.rglob("*.rst")):
        for number, match in enumerate(CODE_BLOCK.finditer(page.read_text())):
            examples.append((f"{page.relative_to(DOCS)}#{number}", textwrap.dedent(match.group(1))))
    return examples


def test_the_docs_hold_examples() -> None:
    assert len(python_examples()) >= 9


@pytest.mark.parametrize(("where", "code"), python_examples(), ids=[where for where, _ in python_examples()])
def test_docs_example_runs(where: str, code: str, tmp_path: Path) -> None:
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600, check=False
    )
    assert completed.returncode == 0, f"{where} failed:\n{completed.stderr[-3000:]}"


def test_every_rl_zoo_key_has_its_algorithm_page() -> None:
    pages = "\n".join(page.read_text() for page in (DOCS / "algorithms").glob("*.rst"))
    for key, entry in zoo_entries().items():
        assert f"``{key}``" in pages, f"no page names the RL Zoo key {key}"
        assert f"sb3_mixture.{entry.algorithm.__name__}" in pages, f"no page documents {entry.algorithm.__name__}"


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    suffixes = {".py", ".md", ".rst", ".inc", ".yml", ".cfg", ".toml", ".txt"}
    return [REPO / name for name in listed if Path(name).suffix in suffixes and (REPO / name).is_file()]


def test_no_reference_points_outside_the_repository() -> None:
    """The project stands on its own: no pointer to the papers' shared notes or to files beside the repository."""
    outside = re.compile(r"SPEC(\.md)?\s*§|SPEC\.md|\.\./shared")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in tracked_text_files()
        if path.name != "test_docs.py"
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if outside.search(line)
    ]
    assert offenders == []


def test_docs_paths_named_in_the_code_exist() -> None:
    """``docs/...`` paths cited in docstrings, comments and the README are files of the repository."""
    cited = re.compile(r"docs/[\w/]+\.rst")
    missing = {
        match
        for path in tracked_text_files()
        for match in cited.findall(path.read_text(errors="replace"))
        if not (REPO / match).is_file()
    }
    assert missing == set()


def test_tests_named_in_the_docs_exist() -> None:
    """Every ``test_x.py::test_y`` the docs and the README name (the departure tables pin each departure with one)
    is a test function of that file: a renamed test cannot leave a stale pointer."""
    cited = re.compile(r"(test_\w+\.py)::(test_\w+)")
    missing = {
        f"{path.relative_to(REPO)}: {test_file}::{test_name}"
        for path in tracked_text_files()
        if path.suffix in (".rst", ".inc", ".md")
        for test_file, test_name in cited.findall(path.read_text(errors="replace"))
        if not re.search(rf"^def {test_name}\(", (REPO / "tests" / test_file).read_text(), re.MULTILINE)
    }
    assert missing == set()


def test_common_imports_no_algorithm() -> None:
    """Layers point down: sb3_mixture/common/ is what every algorithm builds on and imports none of them."""
    algorithm_packages = {path.name for path in (REPO / "sb3_mixture").iterdir() if (path / "__init__.py").is_file()}
    algorithm_packages -= {"common", "envs", "benchmark", "zoo"}
    assert {"sac_mixture", "sacm", "pmoe", "sac_gmm", "sac_awmp", "ppo_mixture"} <= algorithm_packages
    for module in (REPO / "sb3_mixture" / "common").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                parts = name.split(".")
                assert not (parts[0] == "sb3_mixture" and len(parts) > 1 and parts[1] in algorithm_packages), (
                    f"{module.name} imports {name}"
                )
