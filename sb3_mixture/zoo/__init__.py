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


# RL Zoo key -> SACMixture estimator. The key decides the estimator, whatever the hyperparameter file says.
SAC_ESTIMATOR_KEYS = {
    "sac_mrp": "mrp",
    "sac_halfrp": "half_rp",
    "sac_gumbelrp": "gumbel_rp",
    "sac_lr": "lr",
    "sac_usgm": "uniform_rp",
}


def algorithms() -> dict[str, type[BaseAlgorithm]]:
    """RL Zoo key -> algorithm class."""
    from sb3_mixture import PPOPMOE, S2ACM, SACAWMP, SACGMM, SACM, SACPMOE, PPOMixture, SACMixture

    return {
        **dict.fromkeys(SAC_ESTIMATOR_KEYS, SACMixture),
        "sacm": SACM,
        "s2acm": S2ACM,
        "sac_pmoe": SACPMOE,
        "sac_gmm": SACGMM,
        "sac_awmp": SACAWMP,
        "ppo_mixture": PPOMixture,
        "ppo_pmoe": PPOPMOE,
    }


def config_path(algo: str) -> str:
    """The package's own RL Zoo hyperparameter file for ``algo``."""
    return str(HYPERPARAMS_DIR / f"{algo}.yml")


# Sampled names that are the mixture's or the estimator's rather than SAC's.
POLICY_PARAMS = ("n_components",)
ESTIMATOR_PARAMS = ("temperature",)


def convert_sac_mixture_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Converter (also used by ``--trial-id``): SAC's conversion, then ``n_components`` into ``policy_kwargs``
    and the estimator's own parameters into ``estimator_kwargs``."""
    from rl_zoo3.hyperparams_opt import convert_offpolicy_params

    return _convert_mixture_params(sampled_params, convert_offpolicy_params)


def convert_ppo_mixture_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Converter for the PPO keys: RL Zoo's on-policy conversion, then ``n_components`` into ``policy_kwargs``."""
    from rl_zoo3.hyperparams_opt import convert_onpolicy_params

    return _convert_mixture_params(sampled_params, convert_onpolicy_params)


def _convert_mixture_params(
    sampled_params: dict[str, Any], convert: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    own = (*POLICY_PARAMS, *ESTIMATOR_PARAMS)
    converted = convert({key: value for key, value in sampled_params.items() if key not in own})
    converted.setdefault("policy_kwargs", {}).update({key: sampled_params[key] for key in POLICY_PARAMS})
    estimator_kwargs = {key: sampled_params[key] for key in ESTIMATOR_PARAMS if key in sampled_params}
    if estimator_kwargs:
        converted["estimator_kwargs"] = estimator_kwargs
    return converted


def sample_sac_mixture_params(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]
) -> dict[str, Any]:
    """
    SAC's search space, as RL Zoo samples it, plus the number of mixture components.

    One difference: the batch size stops at 512 (RL Zoo's SAC goes to 2048), because a mixture's actor
    loss evaluates the critic on batch size x K actions per gradient step.
    """
    return convert_sac_mixture_params(_sample_sac_space(trial))


def sample_gumbel_rp_params(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]
) -> dict[str, Any]:
    """:func:`sample_sac_mixture_params` plus the Gumbel-softmax temperature (log-uniform in [0.1, 10])."""
    sampled = _sample_sac_space(trial)
    sampled["temperature"] = trial.suggest_float("temperature", 0.1, 10.0, log=True)
    return convert_sac_mixture_params(sampled)


def sample_sac_awmp_params(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]
) -> dict[str, Any]:
    """:func:`sample_sac_mixture_params` plus AWMP's fixed entropy coefficient alpha (log-uniform in [0.01, 1]) and
    the mutual-information weight zeta (log-uniform in [0.01, 1])."""
    sampled = _sample_sac_space(trial)
    sampled["ent_coef"] = trial.suggest_float("ent_coef", 0.01, 1.0, log=True)
    sampled["information_coef"] = trial.suggest_float("information_coef", 0.01, 1.0, log=True)
    return convert_sac_mixture_params(sampled)


def sample_ppo_mixture_params(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]
) -> dict[str, Any]:
    """PPO's search space (RL Zoo's sampler) plus the number of mixture components."""
    from rl_zoo3.hyperparams_opt import sample_ppo_params

    hyperparams = sample_ppo_params(trial, n_actions, n_envs, additional_args)
    hyperparams["policy_kwargs"]["n_components"] = trial.suggest_categorical("n_components", [2, 3, 5, 8])
    return hyperparams


def _sample_sac_space(trial: optuna.Trial) -> dict[str, Any]:
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
    return sampled


MIXTURE_SAC_KEYS = (*SAC_ESTIMATOR_KEYS, "sacm", "s2acm", "sac_pmoe", "sac_gmm", "sac_awmp")
SAMPLERS: dict[str, Callable[..., dict[str, Any]]] = {
    **dict.fromkeys(MIXTURE_SAC_KEYS, sample_sac_mixture_params),
    "sac_gumbelrp": sample_gumbel_rp_params,
    "sac_awmp": sample_sac_awmp_params,
    "ppo_mixture": sample_ppo_mixture_params,
    "ppo_pmoe": sample_ppo_mixture_params,
}
Converter = Callable[[dict[str, Any]], dict[str, Any]]
CONVERTERS: dict[str, Converter] = {
    **dict.fromkeys(MIXTURE_SAC_KEYS, convert_sac_mixture_params),
    "ppo_mixture": convert_ppo_mixture_params,
    "ppo_pmoe": convert_ppo_mixture_params,
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
        if algo in SAMPLERS and arguments.get("config") is None:
            self.config = config_path(algo)
        if algo in SAC_ESTIMATOR_KEYS:
            self.custom_hyperparams = {"estimator": SAC_ESTIMATOR_KEYS[algo], **(self.custom_hyperparams or {})}

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
