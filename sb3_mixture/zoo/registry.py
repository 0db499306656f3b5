"""
The package's RL Zoo keys: which algorithm (and, for SACMixture, which estimator) each key trains, and its
hyperparameter file. Built from :data:`sb3_mixture.ALGORITHMS`, so a new algorithm needs no entry here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

HYPERPARAMS_DIR = Path(__file__).resolve().parent.parent / "hyperparams"
# The SACMixture keys differ only in their estimator, which the key sets: they share one hyperparameter file.
SAC_MIXTURE_CONFIG = "sac_mixture"


@dataclass(frozen=True)
class ZooEntry:
    """One RL Zoo key of the package: its algorithm and, for SACMixture's keys, the estimator the key fixes."""

    key: str
    algorithm: type[BaseAlgorithm]
    estimator: str | None = None

    @property
    def on_policy(self) -> bool:
        from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

        return issubclass(self.algorithm, OnPolicyAlgorithm)


@functools.cache
def zoo_entries() -> dict[str, ZooEntry]:
    """RL Zoo key -> entry, built from :data:`sb3_mixture.ALGORITHMS` and :data:`sb3_mixture.ESTIMATORS`."""
    from sb3_mixture import ALGORITHMS, ESTIMATORS

    entries: list[ZooEntry] = []
    for algorithm in ALGORITHMS:
        zoo_key = algorithm.__dict__.get("zoo_key")  # declared by the class itself, not inherited
        if zoo_key is None:  # SACMixture: a key per estimator
            entries += [ZooEntry(estimator.zoo_key, algorithm, name) for name, estimator in ESTIMATORS.items()]
        else:
            entries.append(ZooEntry(zoo_key, algorithm))
    keys = [entry.key for entry in entries]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise RuntimeError(f"RL Zoo keys declared twice: {duplicated}")
    return {entry.key: entry for entry in entries}


def algorithms() -> dict[str, type[BaseAlgorithm]]:
    """RL Zoo key -> algorithm class."""
    return {key: entry.algorithm for key, entry in zoo_entries().items()}


def sac_estimator_keys() -> dict[str, str]:
    """RL Zoo key -> SACMixture estimator. The key decides the estimator, whatever the hyperparameter file says."""
    return {key: entry.estimator for key, entry in zoo_entries().items() if entry.estimator is not None}


def config_path(algo: str) -> str:
    """The package's own RL Zoo hyperparameter file for ``algo``: ``<zoo_config>.yml``, where a class that trains with
    the same hyperparameters as another declares ``zoo_config`` (S2ACM uses SACM's, PMOE-PPO PPOMixture's), else
    ``<key>.yml``; the SACMixture keys share ``sac_mixture.yml``."""
    entry = zoo_entries()[algo]
    name = SAC_MIXTURE_CONFIG if entry.estimator is not None else entry.algorithm.__dict__.get("zoo_config", algo)
    return str(HYPERPARAMS_DIR / f"{name}.yml")
