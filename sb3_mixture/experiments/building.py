"""Building a run through RL Zoo's own ``ExperimentManager``: the algorithm classes, the YAML entry of a key and task,
and the model with its training and evaluation environments."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

from sb3_mixture.experiments.specs import RunSpec, parse_value


def algorithm_classes() -> dict[str, Any]:
    """RL Zoo key -> class: the package's keys, SB3's sac, td3, ppo and sb3-contrib's tqc, crossq."""
    from sb3_contrib import TQC, CrossQ
    from stable_baselines3 import PPO, SAC, TD3

    from sb3_mixture.zoo import algorithms

    return {"sac": SAC, "td3": TD3, "ppo": PPO, "tqc": TQC, "crossq": CrossQ, **algorithms()}


def hyperparameters(algo: str, env_id: str, conf_dir: str | None = None) -> dict[str, Any]:
    """The env's entry (else ``default``) of the package's RL Zoo YAML for ``algo``, or RL Zoo's own file for SB3's keys;
    with ``conf_dir``, of ``<conf_dir>/<algo>.yml`` instead (another hyperparameter set, as RL Zoo's ``--conf-file``)."""
    import yaml

    from sb3_mixture.zoo import algorithms, config_path, sac_estimator_keys

    if conf_dir is not None:
        path = Path(conf_dir) / f"{algo}.yml"
        if not path.is_file():
            raise FileNotFoundError(f"conf_dir {conf_dir!r} has no {path.name} for algorithm {algo!r}")
        text = path.read_text()
    elif algo in algorithms():
        text = Path(config_path(algo)).read_text()
    else:
        text = (importlib.resources.files("rl_zoo3") / "hyperparams" / f"{algo}.yml").read_text()
    entries = yaml.safe_load(text)
    entry = dict(entries.get(env_id) or _earlier_version_entry(entries, env_id) or entries.get("default") or {})
    entry.setdefault("policy", "MlpPolicy")
    if algo in sac_estimator_keys():  # the key sets the estimator, as under RL Zoo
        entry["estimator"] = sac_estimator_keys()[algo]
    return entry


def _earlier_version_entry(entries: dict[str, Any], env_id: str) -> dict[str, Any] | None:
    """The entry of the newest earlier version of ``env_id`` (``HalfCheetah-v4`` for ``HalfCheetah-v5``), or None.

    RL Zoo's own files tune the MuJoCo tasks at v4 and have no v5 entries (rl_zoo3 2.9); the package's files repeat
    the v4 entries for v5. Without this, SB3's keys would fall back to SB3's defaults on v5 (``learning_starts=100``
    instead of 10000 for SAC, no observation normalisation for PPO) while the mixture keys use the tuned values."""
    name, separator, version = env_id.rpartition("-v")
    if not separator or not version.isdigit():
        return None
    for earlier in range(int(version) - 1, -1, -1):
        if f"{name}-v{earlier}" in entries:
            return entries[f"{name}-v{earlier}"]
    return None


def build(spec: RunSpec, folder: Path) -> tuple[Any, Any, Any, dict[str, Any], list[Any]]:
    """The run's model, training env and evaluation env, built by RL Zoo's own ``ExperimentManager`` (the path of
    ``python -m rl_zoo3.train``): its reading of the entry (``policy_kwargs`` expressions, ``lin_`` schedules,
    ``normalize``, ``env_wrapper``, ``frame_stack``, action noise, callbacks) is the one a user gets. The runner only
    resolves the entry (:func:`hyperparameters`: v5 tasks take the v4 entry, a SACMixture key its estimator) and adds
    the run's overrides, as ``--hyperparams`` would, after importing the spec's ``gym_packages``. Returns also the entry
    with its overrides and RL Zoo's callbacks of the entry (its ``callback`` key). RL Zoo's logs (Monitor files,
    ``config.yml``) go to ``folder``. One torch thread (runs go side by side)."""
    import argparse
    import contextlib
    import importlib
    import io

    import torch as th
    import yaml
    from rl_zoo3.exp_manager import ExperimentManager
    from rl_zoo3.utils import ALGOS

    import sb3_mixture  # noqa: F401  (registers the environments)
    from sb3_mixture.zoo import register

    if spec.algo not in ALGOS:
        register()  # the package's keys in RL Zoo's tables where the start-up hook is disabled
    th.set_num_threads(1)
    for package in spec.gym_packages:  # as rl_zoo3.train --gym-packages: importing registers the env ids
        importlib.import_module(package)
    entry = hyperparameters(spec.algo, spec.env_id, spec.conf_dir)
    overrides = {name: parse_value(value) for name, value in (*spec.overrides, *spec.arm)}
    if spec.ent_coef is not None:
        overrides["ent_coef"] = spec.ent_coef
    config = folder / "config.yml"
    config.write_text(yaml.safe_dump({spec.env_id: entry}))
    arguments: dict[str, Any] = dict(
        algo=spec.algo, env_id=spec.env_id, seed=spec.seed, n_timesteps=spec.budget, hyperparams=overrides
    )
    manager = ExperimentManager(
        argparse.Namespace(**arguments),
        log_folder=str(folder),
        eval_freq=-1,  # the runner evaluates (and records) itself
        verbose=0,
        config=str(config),
        **arguments,
    )
    with contextlib.redirect_stdout(io.StringIO()):  # RL Zoo prints the hyperparameters of every run
        experiment = manager.setup_experiment()
        assert experiment is not None  # None only when optimising hyperparameters
        model, _ = experiment
        # RL Zoo's evaluation env: Monitor, the entry's wrappers, VecNormalize frozen without reward normalisation.
        eval_env = manager.create_envs(manager.n_eval_envs, eval_env=True)
    eval_env.seed(10_000 + spec.seed)
    return model, model.get_env(), eval_env, {**entry, **overrides}, manager.callbacks
