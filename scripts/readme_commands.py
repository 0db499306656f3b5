"""Print one of the README's set-up commands, so that CI runs exactly what the README tells a user to type.

    python scripts/readme_commands.py train   # install and train on Pendulum-v1
    python scripts/readme_commands.py tests   # install the test extras and run the tests

A command is the one-line ``bash`` block that follows the marker ``<!-- readme-command: NAME -->`` in README.md.
"""

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- readme-command: (?P<name>[\w-]+) -->\s*```bash\n(?P<command>[^\n]+)\n```")


def readme_commands(text: str) -> dict[str, str]:
    """Marker name -> command, for every marked block; a name may appear once."""
    commands: dict[str, str] = {}
    for match in BLOCK.finditer(text):
        name = match["name"]
        if name in commands:
            raise ValueError(f"README.md marks two commands as {name!r}")
        commands[name] = match["command"].strip()
    return commands


def main() -> None:
    commands = readme_commands(README.read_text())
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python {sys.argv[0]} NAME, with NAME one of {sorted(commands)}")
    print(commands[sys.argv[1]])


if __name__ == "__main__":
    main()
