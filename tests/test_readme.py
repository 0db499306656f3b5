"""The README's set-up commands are what CI runs: one source for both; every other code block runs as pasted."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.readme_commands import README, readme_commands

REPO = Path(__file__).resolve().parent.parent


def test_readme_marks_the_train_and_test_commands() -> None:
    commands = readme_commands(README.read_text())
    assert set(commands) == {"train", "tests"}
    assert commands["train"].startswith("pip install torch==2.13.0 && pip install . && python examples/quickstart.py")
    assert 'pip install -e ".[tests]"' in commands["tests"] and "python -m pytest" in commands["tests"]


def test_ci_runs_the_commands_read_from_the_readme() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    commands = readme_commands(README.read_text())
    # Written out, and compared with the README's at run time.
    assert f"train_command='{commands['train']}'" in ci and f"test_command='{commands['tests']}'" in ci
    assert "python3 scripts/readme_commands.py train" in ci and "python3 scripts/readme_commands.py tests" in ci
    assert "python3 -m venv" in ci
    outside_readme_commands = ci.replace(commands["train"], "").replace(commands["tests"], "").replace("pip check", "")
    assert "pip install" not in outside_readme_commands  # every install step is the README's


def test_a_name_marked_twice_is_refused() -> None:
    block = "<!-- readme-command: train -->\n```bash\necho hi\n```\n"
    with pytest.raises(ValueError, match="'train'"):
        readme_commands(block + block)


def test_readme_table_lists_every_rl_zoo_key_with_its_class() -> None:
    """The README's algorithm table is checked against the registry: one row per key, naming the key's class."""
    from sb3_mixture.zoo import zoo_entries

    rows = {}
    for line in README.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 2:
            rows[cells[0].strip("`")] = cells[1]
    assert set(rows) == set(zoo_entries())
    for key, entry in zoo_entries().items():
        assert f"`{entry.algorithm.__name__}" in rows[key]
        if entry.estimator is not None:
            assert f'estimator="{entry.estimator}"' in rows[key]


# A fenced block, with the set-up-command marker that may precede it.
FENCED_BLOCK = re.compile(
    r"(?P<marker><!-- readme-command: [\w-]+ -->\s*)?```(?P<language>python|bash)\n(?P<code>.*?)```", re.DOTALL
)


def readme_examples() -> list[tuple[str, str, str]]:
    """(id, language, code) of every README block but the two set-up commands, which CI runs."""
    blocks = [match for match in FENCED_BLOCK.finditer(README.read_text()) if not match["marker"]]
    return [(f"{match['language']}#{number}", match["language"], match["code"]) for number, match in enumerate(blocks)]


def test_the_readme_holds_examples() -> None:
    languages = [language for _, language, _ in readme_examples()]
    assert languages.count("python") >= 1 and languages.count("bash") >= 1


@pytest.mark.parametrize(
    ("language", "code"), [example[1:] for example in readme_examples()], ids=[e[0] for e in readme_examples()]
)
def test_readme_example_runs(language: str, code: str, tmp_path: Path) -> None:
    """Pasted into a fresh shell or interpreter, in an empty folder."""
    command = [sys.executable, "-c", code] if language == "python" else ["bash", "-euo", "pipefail", "-c", code]
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    completed = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=900, check=False
    )
    assert completed.returncode == 0, f"the README's {language} block failed:\n{completed.stderr[-3000:]}"
