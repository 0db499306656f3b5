"""What a run file records besides its numbers: the code's commit, the libraries' versions, and the command, as shell
words to paste back."""

from __future__ import annotations

import platform
import shlex
from pathlib import Path


def code_commit() -> str | None:
    """The git commit of the package's source when it runs from a checkout (grids span sessions and code changes)."""
    import subprocess

    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None


def processor() -> str:
    """The CPU, as Linux's ``/proc/cpuinfo`` names it, with its vendor, family and model numbers (a virtual machine's name
    can be as generic as "Intel(R) Xeon(R) Processor", and sessions land on different hosts); elsewhere, what
    ``platform`` knows."""
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in first.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    if "model name" not in fields:  # e.g. an Arm CPU, whose cpuinfo names no model
        return platform.processor() or platform.machine()
    vendor, family, model = (fields.get(key, "?") for key in ("vendor_id", "cpu family", "model"))
    return f"{fields['model name']} ({vendor} family {family} model {model})"


# What a run's numbers depend on besides the code: the simulator and the libraries around it (None: not installed).
RECORDED_PACKAGES = (
    "torch",
    "numpy",
    "gymnasium",
    "mujoco",
    "stable-baselines3",
    "sb3-contrib",
    "rl-zoo3",
    "dm-control",
    "shimmy",
    "gymnasium-robotics",
)


def package_versions() -> dict[str, str | None]:
    """Python's version and the installed versions of :data:`RECORDED_PACKAGES`, as a run file records them."""
    from importlib import metadata

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# The runners module, and the name it had before the package was renamed (recorded in the early grids' run files).
MODULE, FORMER_MODULE = "sb3_mixture.experiments", "sb3_mixture.benchmark"


def shell_command(recorded: str) -> str:
    """``recorded`` (a run file's ``command``) as a line to paste into a shell: each argument quoted where it needs it.

    Run files written before the runner quoted its arguments hold them joined by single spaces, so an arm such as
    ``crossq[policy_kwargs=dict(net_arch=[256, 256])]`` was split at its space: the words are joined back while a
    bracket is open. A command that is quoted already comes back unchanged. Run files written before the package's
    rename run ``python -m sb3_mixture.benchmark``: they name the runner by its present name."""
    split = [MODULE if word == FORMER_MODULE else word for word in shlex.split(recorded)]
    if "'" in recorded or '"' in recorded:  # written by shlex.join: its words are whole, brackets in them or not
        return shlex.join(split)
    words: list[str] = []
    depth = 0
    for word in split:
        if depth > 0:
            words[-1] += " " + word
        else:
            words.append(word)
        depth += sum(word.count(opening) for opening in "([{") - sum(word.count(closing) for closing in ")]}")
    if depth != 0:
        raise ValueError(f"unbalanced brackets in the recorded command {recorded!r}")
    return shlex.join(words)
