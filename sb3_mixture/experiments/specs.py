"""The grid's runs: a run's specification (algorithm or arm, task, seed, budget, overrides), the grid of every
combination, and the command-line notation of arms and hyperparameter values."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid."""

    algo: str
    env_id: str
    seed: int
    budget: int
    ent_coef: float | None = None
    overrides: tuple[tuple[str, str], ...] = ()  # (name, value as typed) replacing the YAML's, for every algorithm
    arm: tuple[tuple[str, str], ...] = ()  # (name, value as typed) replacing the YAML's for this algorithm only
    conf_dir: str | None = None  # a folder of RL Zoo files (<key>.yml) read instead of the package's and RL Zoo's
    gym_packages: tuple[str, ...] = ()  # modules imported before the env is made (their import registers its id)

    @property
    def name(self) -> str:
        """The algorithm as reports name it: the key, or ``key[name=value,...]`` for an arm of it."""
        return self.algo if not self.arm else f"{self.algo}[{','.join(f'{key}={value}' for key, value in self.arm)}]"

    @property
    def variant(self) -> str:
        """``"default"`` (the YAML's hyperparameters) or the hyperparameter set (``conf=<folder name>``), the overridden
        entropy coefficient and hyperparameters."""
        conf = [] if self.conf_dir is None else [f"conf={Path(self.conf_dir).name}"]
        entropy = [] if self.ent_coef is None else [f"ent_coef={self.ent_coef:g}"]
        changed = conf + entropy + [f"{name}={value}" for name, value in self.overrides]
        return ",".join(changed) or "default"

    def path(self, root: Path) -> Path:
        env_folder = self.env_id.replace("/", "__")
        return root / self.name / env_folder / self.variant / f"seed{self.seed}_budget{self.budget}.json"


def grid(
    algos: Sequence[str],
    env_ids: Sequence[str],
    seeds: Sequence[int],
    budgets: Sequence[int],
    ent_coefs: Sequence[float | None] = (None,),
    overrides: dict[str, str] | None = None,
    conf_dir: str | None = None,
    gym_packages: Sequence[str] = (),
) -> list[RunSpec]:
    """Every combination, in a fixed order (the order shards split); ``overrides``, ``conf_dir`` (a folder of RL Zoo
    files, one per key) and ``gym_packages`` (modules that register the envs, as RL Zoo's ``--gym-packages``) apply to
    every run.

    The algorithms vary fastest, so an interrupted grid holds complete comparisons (every algorithm on the same seeds)."""
    fixed = tuple(sorted((overrides or {}).items()))
    arms = [parse_arm(algo) for algo in algos]
    return [
        RunSpec(algo, env_id, seed, budget, ent_coef, fixed, arm, conf_dir, tuple(gym_packages))
        for env_id in env_ids
        for ent_coef in ent_coefs
        for budget in budgets
        for seed in seeds
        for algo, arm in arms
    ]


def parse_arm(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``"key"`` or ``"key[name=value,name=value]"`` (an arm: the key with hyperparameters of its own) -> (key, arm).
    Commas inside brackets or parentheses belong to the value (``policy_kwargs=dict(a=1,b=2)``)."""
    key, bracket, rest = text.partition("[")
    if not bracket:
        return text, ()
    error = ValueError(f"an arm is key[name=value,...], got {text!r}")
    if not rest.endswith("]"):
        raise error
    pairs, depth, start, body = [], 0, 0, rest[:-1]
    for position, character in enumerate(body + ","):
        if character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        elif character == "," and depth == 0:
            name, equals, value = body[start:position].partition("=")
            if not equals or not name.strip() or not value.strip():
                raise error
            pairs.append((name.strip(), value.strip()))
            start = position + 1
    return key, tuple(pairs)


def parse_value(text: str) -> Any:
    """A hyperparameter value typed on the command line: a Python literal (``1e-3``, ``256``, ``True``), else the text
    (RL Zoo's own string conventions, such as ``policy_kwargs: "dict(n_components=3)"``, still apply)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
