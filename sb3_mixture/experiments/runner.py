"""
Execute a grid's runs (:mod:`~sb3_mixture.experiments.specs`) in parallel worker processes.

Each run writes one JSON file (written to a temporary name, then renamed, so an interrupted run leaves no result);
a run whose file exists is skipped, so a grid can be interrupted and resumed, or split across machines that share
the folder (``--shard i/n`` gives each machine its own part of the grid). A run also checkpoints itself at every
evaluation (:mod:`sb3_mixture.experiments.checkpoint`), so an interrupted run goes on from its last evaluation.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from sb3_mixture.experiments.building import algorithm_classes, build
from sb3_mixture.experiments.checkpoint import Checkpoint, read_result
from sb3_mixture.experiments.provenance import code_commit, package_versions
from sb3_mixture.experiments.specs import RunSpec

RESULT_FORMAT = 2
"""2: adds ``stochastic_returns`` (the same evaluations with sampled actions) and ``online`` (the training episodes'
returns and lengths, as SB3's Monitor records them, and whether each reached the goal). Format-1 files (deterministic
evaluations only) still read."""


def execute(spec: RunSpec, root: Path, eval_freq: int, n_eval_episodes: int, command: str) -> dict[str, Any]:
    """Train one run, evaluating every ``eval_freq`` steps, and write its result file (RL Zoo's own logs of the run go
    to a temporary folder, removed after)."""
    checkpoint = Checkpoint(spec.path(root))
    logs = Path(tempfile.mkdtemp(prefix="sb3-mixture-run-"))
    try:
        return _execute(spec, root, eval_freq, n_eval_episodes, command, checkpoint, logs)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def _execute(
    spec: RunSpec, root: Path, eval_freq: int, n_eval_episodes: int, command: str, checkpoint: Checkpoint, logs: Path
) -> dict[str, Any]:
    import torch as th
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import sync_envs_normalization

    from sb3_mixture.plots import model_mixture_statistics

    model, env, eval_env, hyperparams, zoo_callbacks = build(spec, logs)
    records: dict[str, Any] = {
        "curve": {"timesteps": [], "returns": [], "stochastic_returns": [], "success_rate": [], "mixture_statistics": []},
        "online": {"timesteps": [], "returns": [], "lengths": [], "reached_goal": []},
        "training_time": 0.0,
        "wall_time": 0.0,
        "resumed_at": [],
    }
    if checkpoint.exists():  # an earlier process stopped mid-run: go on from its last evaluation
        model, env, records = checkpoint.restore(algorithm_classes()[spec.algo], env)
        records["resumed_at"].append(model.num_timesteps)
        env.seed(spec.seed + 7919 * len(records["resumed_at"]))  # a new episode, not a replay of the first ones
    curve, online = records["curve"], records["online"]
    reached = [False] * model.n_envs  # per training env: an ``is_success`` step since its episode began
    training_time = [records["training_time"]]
    start = time.perf_counter() - records["wall_time"]

    def evaluate() -> None:
        successes: list[bool] = []
        observations: list[np.ndarray] = []

        def on_step(locals_: dict[str, Any], _: dict[str, Any]) -> None:
            observations.append(np.asarray(locals_["observations"]))
            if locals_["done"] and "is_success" in locals_["info"]:
                successes.append(bool(locals_["info"]["is_success"]))

        sync_envs_normalization(env, eval_env)
        returns, _ = evaluate_policy(
            model, eval_env, n_eval_episodes, deterministic=True, return_episode_rewards=True, callback=on_step
        )
        curve["timesteps"].append(model.num_timesteps)
        curve["returns"].append(float(np.mean(returns)))
        curve["success_rate"].append(float(np.mean(successes)) if successes else None)
        curve["mixture_statistics"].append(model_mixture_statistics(model, np.concatenate(observations)[:256]))
        # The action a user's sampled rollouts take: a mixture's deterministic action is one rule among several. Its
        # own random stream, so that training does not depend on being evaluated.
        with th.random.fork_rng(devices=[]):
            th.manual_seed(20_000 + spec.seed + model.num_timesteps)
            stochastic, _ = evaluate_policy(model, eval_env, n_eval_episodes, deterministic=False, return_episode_rewards=True)
        curve["stochastic_returns"].append(float(np.mean(stochastic)))

    class Periodic(BaseCallback):
        started = 0.0

        def _on_step(self) -> bool:
            for index, info in enumerate(self.locals["infos"]):
                reached[index] = reached[index] or bool(info.get("is_success", False))
                if "episode" in info:  # Monitor's record of a finished training episode (unnormalised reward)
                    online["timesteps"].append(self.num_timesteps)
                    online["returns"].append(float(info["episode"]["r"]))
                    online["lengths"].append(int(info["episode"]["l"]))
                    # Whether the episode reached the goal at any step (None: the env reports no is_success).
                    online["reached_goal"].append(reached[index] if "is_success" in info else None)
                    reached[index] = False
            if self.num_timesteps % eval_freq < self.training_env.num_envs:
                training_time[0] += time.perf_counter() - self.started
                evaluate()
                if model.num_timesteps < spec.budget:
                    records.update(training_time=training_time[0], wall_time=time.perf_counter() - start)
                    checkpoint.save(model, env, records)
                self.started = time.perf_counter()
            return True

        def _on_training_start(self) -> None:
            self.started = time.perf_counter()

        def _on_training_end(self) -> None:
            training_time[0] += time.perf_counter() - self.started

    callbacks = [Periodic(), *zoo_callbacks]
    model.learn(spec.budget - model.num_timesteps, callback=callbacks, reset_num_timesteps=not records["resumed_at"])
    if not curve["timesteps"] or curve["timesteps"][-1] != model.num_timesteps:
        evaluate()
    result = {
        "format": RESULT_FORMAT,
        **asdict(spec),
        "name": spec.name,
        "variant": spec.variant,
        "hyperparameters": {key: str(value) for key, value in hyperparams.items()},
        "eval_freq": eval_freq,
        "n_eval_episodes": n_eval_episodes,
        **curve,
        "online": online,
        "resumed_at": records["resumed_at"],
        "final_return": curve["returns"][-1],
        "final_stochastic_return": curve["stochastic_returns"][-1],
        "final_success_rate": curve["success_rate"][-1],
        "final_mixture_statistics": curve["mixture_statistics"][-1],
        "wall_time": time.perf_counter() - start,
        "env_steps_per_second": model.num_timesteps / max(training_time[0], 1e-9),
        "command": command,
        "machine": platform.node(),
        "code_commit": code_commit(),
        "versions": package_versions(),
    }
    path = spec.path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    temporary.write_text(json.dumps(result, indent=1))
    temporary.replace(path)  # atomic: a result file is always complete
    checkpoint.delete()
    return result


def pending(specs: Iterable[RunSpec], root: Path, shard: tuple[int, int] = (0, 1)) -> list[RunSpec]:
    """The runs of this shard whose result file does not exist yet."""
    index, count = shard
    todo = []
    for position, spec in enumerate(specs):
        if position % count != index:
            continue
        if spec.path(root).is_file():
            read_result(spec.path(root))  # a finished run's file must read: a corrupt one is an error, not a skip
        else:
            todo.append(spec)
    return todo


def run_grid(
    specs: Sequence[RunSpec],
    root: Path,
    eval_freq: int,
    n_eval_episodes: int,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    command: str | None = None,
    progress_bar: bool = True,
) -> list[RunSpec]:
    """Execute the pending runs (``workers`` processes; 1 runs in this process) and return those executed."""
    from tqdm.auto import tqdm

    todo = pending(specs, root, shard)
    command = command or shlex.join(["python", "-m", "sb3_mixture.experiments", *sys.argv[1:]])
    bar = tqdm(total=len(todo), desc="runs", disable=not progress_bar)
    if workers <= 1:
        for spec in todo:
            execute(spec, root, eval_freq, n_eval_episodes, command)
            bar.update()
    else:
        import multiprocessing

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(execute, spec, root, eval_freq, n_eval_episodes, command) for spec in todo]
            for future in as_completed(futures):
                future.result()
                bar.update()
    bar.close()
    return todo
