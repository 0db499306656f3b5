"""
RL Zoo integration: algorithm keys, hyperparameter files, Optuna samplers and converters.

``patch_module`` is called by the start-up hook (``_sb3_mixture_zoo_hook``) right after each of
``rl_zoo3.utils``, ``rl_zoo3.hyperparams_opt`` and ``rl_zoo3.exp_manager`` is executed; ``register()`` does
the same for modules already imported, for use from Python or when the hook is disabled.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
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


# Sampled names that are the mixture's rather than SAC's.
POLICY_PARAMS = ("n_components",)


def convert_sac_mixture_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Converter (also used by ``--trial-id``): SAC's conversion, then ``n_components`` into ``policy_kwargs``
    and the estimator's own parameters into ``estimator_kwargs``."""
    from rl_zoo3.hyperparams_opt import convert_offpolicy_params

    from sb3_mixture.common.estimators import estimator_kwarg_names

    own = {*POLICY_PARAMS, *estimator_kwarg_names()}
    converted = convert_offpolicy_params({key: value for key, value in sampled_params.items() if key not in own})
    converted.setdefault("policy_kwargs", {}).update({key: sampled_params[key] for key in POLICY_PARAMS})
    estimator_kwargs = {key: value for key, value in sampled_params.items() if key in estimator_kwarg_names()}
    if estimator_kwargs:
        converted["estimator_kwargs"] = estimator_kwargs
    return converted


def convert_ppo_mixture_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Converter for the PPO keys: RL Zoo's on-policy conversion, then ``n_components`` into ``policy_kwargs``."""
    from rl_zoo3.hyperparams_opt import convert_onpolicy_params

    converted = convert_onpolicy_params({key: value for key, value in sampled_params.items() if key not in POLICY_PARAMS})
    converted.setdefault("policy_kwargs", {}).update({key: sampled_params[key] for key in POLICY_PARAMS})
    return converted


class SACMixtureSampler:
    """
    RL Zoo sampler of a SAC-family key: SAC's search space as RL Zoo samples it, the number of mixture components, then
    the algorithm's own entries (``sample_zoo_hyperparameters``) and its estimator's (``sample_kwargs``).

    One difference: the batch size stops at 512 (RL Zoo's SAC goes to 2048), because a mixture's actor
    loss evaluates the critic on batch size x K actions per gradient step.
    """

    def __init__(self, entry: ZooEntry):
        self.entry = entry

    def __call__(self, trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]) -> dict[str, Any]:
        from sb3_mixture.common.estimators import ESTIMATORS

        sampled = _sample_sac_space(trial, excluded=self.entry.algorithm.zoo_sac_space_excludes)  # type: ignore[attr-defined]
        sampled.update(self.entry.algorithm.sample_zoo_hyperparameters(trial))  # type: ignore[attr-defined]
        if self.entry.estimator is not None:
            sampled.update(ESTIMATORS[self.entry.estimator].sample_kwargs(trial))
        return convert_sac_mixture_params(sampled)


def sample_ppo_mixture_params(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]
) -> dict[str, Any]:
    """PPO's search space (RL Zoo's sampler) plus the number of mixture components."""
    from rl_zoo3.hyperparams_opt import sample_ppo_params

    hyperparams = sample_ppo_params(trial, n_actions, n_envs, additional_args)
    hyperparams["policy_kwargs"]["n_components"] = trial.suggest_categorical("n_components", [2, 3, 5, 8])
    return hyperparams


def _sample_sac_space(trial: optuna.Trial, excluded: tuple[str, ...] = ()) -> dict[str, Any]:
    """RL Zoo's SAC space (batch size capped, see :class:`SACMixtureSampler`) and ``n_components``, without the
    ``excluded`` entries, which are then never suggested (a reloaded trial must not carry them)."""
    one_minus_gamma = trial.suggest_float("one_minus_gamma", 0.0001, 0.03, log=True)
    batch_size_pow = trial.suggest_int("batch_size_pow", 5, 9)
    trial.set_user_attr("gamma", 1 - one_minus_gamma)
    trial.set_user_attr("batch_size", 2**batch_size_pow)
    sampled: dict[str, Any] = {
        "one_minus_gamma": one_minus_gamma,
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 0.002, log=True),
        "batch_size_pow": batch_size_pow,
        "train_freq": trial.suggest_int("train_freq", 1, 10),
    }
    if "tau" not in excluded:
        sampled["tau"] = trial.suggest_float("tau", 0.001, 0.08, log=True)
    sampled["net_arch"] = trial.suggest_categorical("net_arch", ["small", "medium", "big"])
    sampled["n_components"] = trial.suggest_categorical("n_components", [2, 3, 5, 8])
    return sampled


Sampler = Callable[..., dict[str, Any]]
Converter = Callable[[dict[str, Any]], dict[str, Any]]


def samplers() -> dict[str, Sampler]:
    """RL Zoo key -> Optuna sampler."""
    return {
        key: sample_ppo_mixture_params if entry.on_policy else SACMixtureSampler(entry) for key, entry in zoo_entries().items()
    }


def converters() -> dict[str, Converter]:
    """RL Zoo key -> converter from a trial's parameters to hyperparameters."""
    return {
        key: convert_ppo_mixture_params if entry.on_policy else convert_sac_mixture_params
        for key, entry in zoo_entries().items()
    }


def _default_config_init(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap ``ExperimentManager.__init__``: our keys read the package's YAML when no --conf-file is given, and
    each SACMixture key runs its own estimator whatever the file says (``--hyperparams`` still overrides)."""

    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        arguments = signature.bind(self, *args, **kwargs).arguments
        algo = arguments.get("algo")
        if algo in zoo_entries() and arguments.get("config") is None:
            self.config = config_path(algo)
        estimator = sac_estimator_keys().get(algo) if isinstance(algo, str) else None
        if estimator is not None:
            self.custom_hyperparams = {"estimator": estimator, **(self.custom_hyperparams or {})}

    wrapped.__sb3_mixture__ = True  # type: ignore[attr-defined]
    return wrapped


def import_environment_packages() -> None:
    """Register DeepMind Control's ``dm_control/...`` ids when Shimmy is installed (the ``dmc`` extra), as RL Zoo's
    ``import_envs`` registers the packages it knows: ``rl_zoo3.train --env dm_control/cartpole-swingup-v0`` then needs no
    ``--gym-packages``. dm_control warns at import that a headless machine has no display for GLFW; training does not
    render, so that warning is silenced here (rendering later still reports it)."""
    import contextlib
    import warnings

    with warnings.catch_warnings(), contextlib.suppress(ImportError):
        warnings.filterwarnings("ignore", message=".*DISPLAY.*")
        import shimmy  # noqa: F401  (its import registers the ids)


def patch_module(module: ModuleType) -> None:
    """Extend one rl_zoo3 module with the package's algorithms (idempotent)."""
    name = module.__name__
    if name == "rl_zoo3.utils":
        module.ALGOS.update(algorithms())
        import_environment_packages()
    elif name == "rl_zoo3.hyperparams_opt":
        module.HYPERPARAMS_SAMPLER.update(samplers())
        module.HYPERPARAMS_CONVERTER.update(converters())
    elif name == "rl_zoo3.exp_manager":
        from sb3_mixture.common.torch_layers import MlpTrunk

        # RL Zoo evaluates policy_kwargs strings in this module's namespace: YAML can then name the trunk.
        module.MlpTrunk = MlpTrunk  # type: ignore[attr-defined]
        manager = module.ExperimentManager
        if not getattr(manager.__init__, "__sb3_mixture__", False):
            manager.__init__ = _default_config_init(manager.__init__)


def register() -> None:
    """Register the package's algorithms with RL Zoo now (imports rl_zoo3)."""
    for name in ("rl_zoo3.utils", "rl_zoo3.hyperparams_opt", "rl_zoo3.exp_manager"):
        patch_module(sys.modules.get(name) or importlib.import_module(name))
