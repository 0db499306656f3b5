"""Rewrite the README's results table from the committed run files (run it after new runs land).

    python scripts/readme_results.py

The table is what the command in its marker ``<!-- results-table: COMMAND -->`` prints, up to
``<!-- /results-table -->``; ``tests/test_reports.py`` checks that the README holds exactly that output.
"""

import contextlib
import io
import os
import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(
    r"(?P<marker><!-- results-table: (?P<command>[^\n]+?) -->\n)(?P<table>.*?)(?=<!-- /results-table -->)", re.DOTALL
)
PREFIX = ["python", "-m", "sb3_mixture.experiments", "summary"]


def results_block(text: str) -> tuple[str, str]:
    """The marker's command and the table the README holds under it (without the blank lines around it)."""
    match = BLOCK.search(text)
    if match is None:
        raise ValueError("README.md has no <!-- results-table: ... --> ... <!-- /results-table --> block")
    return match["command"], match["table"].strip("\n") + "\n"


def regenerate_table(command: str) -> str:
    """What ``command`` (a ``python -m sb3_mixture.experiments summary`` line) prints, run from the repository root."""
    from sb3_mixture.experiments.__main__ import main

    words = shlex.split(command)
    if words[:4] != PREFIX:
        raise ValueError(f"the results-table marker must hold a '{' '.join(PREFIX)}' command, got {command!r}")
    output = io.StringIO()
    cwd = Path.cwd()
    os.chdir(README.parent)
    try:
        with contextlib.redirect_stdout(output):
            main(words[3:])
    finally:
        os.chdir(cwd)
    return output.getvalue()


def main() -> None:
    text = README.read_text()
    command, _ = results_block(text)
    table = regenerate_table(command)
    # Blank lines around the table: Markdown then reads it as a table, not as part of the HTML comments.
    README.write_text(BLOCK.sub(lambda match: match["marker"] + "\n" + table + "\n", text, count=1))
    print(table, end="")


if __name__ == "__main__":
    main()
