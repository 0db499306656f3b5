"""
Optuna search spaces of the package's keys for RL Zoo's ``-optimize``: a sampler per key, and the converter from a
trial's parameters to hyperparameters (RL Zoo's own, then the mixture's entries into ``policy_kwargs`` and
``estimator_kwargs``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sb3_mixture.zoo.registry import ZooEntry, zoo_entries

if TYPE_CHECKING:
    import optuna

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
