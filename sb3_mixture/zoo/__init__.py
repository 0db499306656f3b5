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
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from stable_baselines3.common.base_class import BaseAlgorithm

HYPERPARAMS_DIR = Path(__file__).resolve().parent.parent / "hyperparams"


def algorithms() -> dict[str, type[BaseAlgorithm]]:
    """RL Zoo key -> algorithm class."""
    from sb3_mixture import SACMixture

    return {"sac_mrp": SACMixture}


def config_path(algo: str) -> str:
    """The package's own RL Zoo hyperparameter file for ``algo``."""
    return str(HYPERPARAMS_DIR / f"{algo}.yml")


def _with_mixture_params(params: dict[str, Any], converted: dict[str, Any]) -> dict[str, Any]:
    """Move the mixture's own sampled parameters into the converted hyperparameters."""
    policy_kwargs = converted.setdefault("policy_kwargs", {})
    policy_kwargs["n_components"] = params["n_components"]
    return converted


def convert_sac_mixture_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Converter for ``--trial-id``: SAC's conversion plus ``n_components`` into ``policy_kwargs``."""
    from rl_zoo3.hyperparams_opt import convert_offpolicy_params

    sac_params = {key: value for key, value in sampled_params.items() if key != "n_components"}
    return _with_mixture_params(sampled_params, convert_offpolicy_params(sac_params))


def sample_sac_mixture_params(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]
) -> dict[str, Any]:
    """
    SAC's search space, as RL Zoo samples it, plus the number of mixture components.

    One difference: the batch size stops at 512 (RL Zoo's SAC goes to 2048), because a mixture's actor
    loss evaluates the critic on batch size x K actions per gradient step.
    """
    one_minus_gamma = trial.suggest_float("one_minus_gamma", 0.0001, 0.03, log=True)
    batch_size_pow = trial.suggest_int("batch_size_pow", 5, 9)
    trial.set_user_attr("gamma", 1 - one_minus_gamma)
    trial.set_user_attr("batch_size", 2**batch_size_pow)
    sampled = {
        "one_minus_gamma": one_minus_gamma,
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 0.002, log=True),
        "batch_size_pow": batch_size_pow,
        "train_freq": trial.suggest_int("train_freq", 1, 10),
        "tau": trial.suggest_float("tau", 0.001, 0.08, log=True),
        "net_arch": trial.suggest_categorical("net_arch", ["small", "medium", "big"]),
        "n_components": trial.suggest_categorical("n_components", [2, 3, 5, 8]),
    }
    return convert_sac_mixture_params(sampled)


SAMPLERS: dict[str, Callable[..., dict[str, Any]]] = {"sac_mrp": sample_sac_mixture_params}
CONVERTERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"sac_mrp": convert_sac_mixture_params}


def _default_config_init(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap ``ExperimentManager.__init__`` so our keys read the package's YAML when no --conf-file is given."""

    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        arguments = signature.bind(self, *args, **kwargs).arguments
        if arguments.get("algo") in SAMPLERS and arguments.get("config") is None:
            self.config = config_path(arguments["algo"])

    wrapped.__sb3_mixture__ = True  # type: ignore[attr-defined]
    return wrapped


def patch_module(module: ModuleType) -> None:
    """Extend one rl_zoo3 module with the package's algorithms (idempotent)."""
    name = module.__name__
    if name == "rl_zoo3.utils":
        module.ALGOS.update(algorithms())
    elif name == "rl_zoo3.hyperparams_opt":
        module.HYPERPARAMS_SAMPLER.update(SAMPLERS)
        module.HYPERPARAMS_CONVERTER.update(CONVERTERS)
    elif name == "rl_zoo3.exp_manager":
        manager = module.ExperimentManager
        if not getattr(manager.__init__, "__sb3_mixture__", False):
            manager.__init__ = _default_config_init(manager.__init__)


def register() -> None:
    """Register the package's algorithms with RL Zoo now (imports rl_zoo3)."""
    for name in ("rl_zoo3.utils", "rl_zoo3.hyperparams_opt", "rl_zoo3.exp_manager"):
        patch_module(sys.modules.get(name) or importlib.import_module(name))
