"""
What a run records while it trains: its training episodes, its evaluations, its clock and its checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization

from sb3_mixture.experiments.checkpoint import Checkpoint
from sb3_mixture.experiments.specs import RunSpec
from sb3_mixture.plots import model_mixture_statistics


def new_records() -> dict[str, Any]:
    """The records of a run that has not started: what a checkpoint saves and the result file reports."""
    return {
        "curve": {"timesteps": [], "returns": [], "stochastic_returns": [], "success_rate": [], "mixture_statistics": []},
        "online": {"timesteps": [], "returns": [], "lengths": [], "reached_goal": []},
        "training_time": 0.0,
        "wall_time": 0.0,
        "resumed_at": [],
        "resumed_exactly": [],
        "episode_reached_goal": [],
    }


class RunRecorder(BaseCallback):
    """Fills ``records`` as the model trains: each finished training episode (Monitor's unnormalised return, its
    length, whether it reached the goal), and every ``eval_freq`` steps an evaluation (:meth:`evaluate`) and, at the
    start of the next rollout (the step's gradient updates done), a checkpoint. Training time excludes both; wall time
    includes them and every earlier process's share. ``progress``, if given, is called with the step count at the
    start, at most every ``progress_interval`` seconds, and at each evaluation."""

    def __init__(
        self,
        spec: RunSpec,
        env: VecEnv,
        eval_env: VecEnv,
        eval_freq: int,
        n_eval_episodes: int,
        checkpoint: Checkpoint,
        records: dict[str, Any],
        progress: Callable[[int], None] | None = None,
        progress_interval: float = 2.0,
    ):
        super().__init__()
        self.spec, self.env, self.eval_env, self.checkpoint, self.records = spec, env, eval_env, checkpoint, records
        self.eval_freq, self.n_eval_episodes = eval_freq, n_eval_episodes
        # Per training env: an ``is_success`` step since its episode began (checkpointed: episodes resume mid-way).
        self.reached = list(records.get("episode_reached_goal") or [False] * env.num_envs)
        self.clock_started = 0.0
        self.wall_clock_start = time.perf_counter() - records["wall_time"]
        self.checkpoint_due = False
        self.progress, self.progress_interval, self.progress_reported = progress, progress_interval, -float("inf")

    def _on_training_start(self) -> None:
        self._report_progress(force=True)
        self._start_clock()

    def _on_rollout_start(self) -> None:
        # Between rollouts nothing is half done (the last transition stored, its gradient steps taken), so a run
        # resumed from here repeats nothing and skips nothing.
        if self.checkpoint_due:
            self._stop_clock()
            self.records["wall_time"] = self.wall_time()
            self.records["episode_reached_goal"] = list(self.reached)
            self.checkpoint.save(self.model, self.env, self.eval_env, self.records)
            self.checkpoint_due = False
            self._start_clock()

    def _on_step(self) -> bool:
        online = self.records["online"]
        for index, info in enumerate(self.locals["infos"]):
            self.reached[index] = self.reached[index] or bool(info.get("is_success", False))
            if "episode" in info:  # Monitor's record of a finished training episode (unnormalised reward)
                online["timesteps"].append(self.num_timesteps)
                online["returns"].append(float(info["episode"]["r"]))
                online["lengths"].append(int(info["episode"]["l"]))
                # Whether the episode reached the goal at any step (None: the env reports no is_success).
                online["reached_goal"].append(self.reached[index] if "is_success" in info else None)
                self.reached[index] = False
        if self.num_timesteps % self.eval_freq < self.training_env.num_envs:
            self._stop_clock()
            self.evaluate()
            self.checkpoint_due = self.num_timesteps < self.spec.budget
            self._report_progress(force=True)
            self._start_clock()
        else:
            self._report_progress()
        return True

    def _on_training_end(self) -> None:
        self._stop_clock()

    def _report_progress(self, force: bool = False) -> None:
        if self.progress is not None and (force or time.monotonic() - self.progress_reported >= self.progress_interval):
            self.progress(self.num_timesteps)
            self.progress_reported = time.monotonic()

    def _start_clock(self) -> None:
        self.clock_started = time.perf_counter()

    def _stop_clock(self) -> None:
        self.records["training_time"] += time.perf_counter() - self.clock_started

    def wall_time(self) -> float:
        """Seconds since the run began, over every process that trained it."""
        return time.perf_counter() - self.wall_clock_start

    def evaluate(self) -> None:
        """Append to the curve: the mean return of ``n_eval_episodes`` deterministic episodes, their success rate, the
        mixture's statistics on their observations, and the mean return of as many episodes with sampled actions."""
        model, curve = self.model, self.records["curve"]
        successes: list[bool] = []
        observations: list[np.ndarray] = []

        def on_step(locals_: dict[str, Any], _: dict[str, Any]) -> None:
            observations.append(np.asarray(locals_["observations"]))
            if locals_["done"] and "is_success" in locals_["info"]:
                successes.append(bool(locals_["info"]["is_success"]))

        sync_envs_normalization(self.env, self.eval_env)
        returns, _ = evaluate_policy(
            model, self.eval_env, self.n_eval_episodes, deterministic=True, return_episode_rewards=True, callback=on_step
        )
        curve["timesteps"].append(model.num_timesteps)
        curve["returns"].append(float(np.mean(returns)))
        curve["success_rate"].append(float(np.mean(successes)) if successes else None)
        curve["mixture_statistics"].append(model_mixture_statistics(model, np.concatenate(observations)[:256]))
        # The action a user's sampled rollouts take: a mixture's deterministic action is one rule among several. Its
        # own random stream, so that training does not depend on being evaluated.
        with th.random.fork_rng(devices=[]):
            th.manual_seed(20_000 + self.spec.seed + model.num_timesteps)
            stochastic, _ = evaluate_policy(
                model, self.eval_env, self.n_eval_episodes, deterministic=False, return_episode_rewards=True
            )
        curve["stochastic_returns"].append(float(np.mean(stochastic)))
