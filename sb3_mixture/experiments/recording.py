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
from sb3_mixture.experiments.maze import maze_layout, mixture_snapshot
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
        "episode_goals": None,  # EpisodeGoals.state() of the training envs
        "maze_mixture": None,  # a point maze's layout and the mixture on it at the start and the end (experiments.maze)
    }


# DeepMind Control's sparse tasks report no success, but their reward is 1 on a step inside the goal region and 0
# outside it (dm_control.suite: an indicator, or rewards.tolerance without a margin): a rewarded step reached the goal.
REWARD_GOAL_TASKS = frozenset(
    f"dm_control/{task}-v0"
    for task in (
        "acrobot-swingup_sparse", "ball_in_cup-catch", "cartpole-swingup_sparse", "finger-turn_easy", "finger-turn_hard",
        "pendulum-swingup", "reacher-easy", "reacher-hard",
    )
)  # fmt: skip


def goal_reached(info: dict[str, Any]) -> bool | None:
    """Whether a step reached the goal: ``is_success`` (SB3's key, Fetch's) or ``success`` (Gymnasium-Robotics' mazes);
    None where the env reports neither."""
    for key in ("is_success", "success"):
        if key in info:
            return bool(info[key])
    return None


class EpisodeGoals:
    """Whether the current episode of each env of a VecEnv has reached the goal at some step so far: by the steps'
    :func:`goal_reached`, or on a task of :data:`REWARD_GOAL_TASKS` by a rewarded step. There some episodes start inside
    the goal region (random initial angles or positions), and an episode whose first step is rewarded tells nothing of
    finding the goal: its flag is None. ``state()`` is what a checkpoint keeps (episodes resume mid-way)."""

    def __init__(self, num_envs: int, from_reward: bool, state: dict[str, list] | None = None):
        self.from_reward = from_reward
        self.reached: list[bool | None] = list(state["reached"]) if state else [False] * num_envs
        self.first_step: list[bool] = list(state["first_step"]) if state else [True] * num_envs

    def step(self, index: int, info: dict[str, Any], reward: float) -> None:
        """Record a step of env ``index``."""
        if self.from_reward:
            rewarded = float(reward) > 0
            if self.first_step[index]:
                self.reached[index] = None if rewarded else False
            elif self.reached[index] is False:
                self.reached[index] = rewarded
        else:
            step_reached = goal_reached(info)
            self.reached[index] = None if step_reached is None else bool(self.reached[index]) or step_reached
        self.first_step[index] = False

    def finish(self, index: int) -> bool | None:
        """The flag of env ``index``'s episode, which its last step ended (None: undetermined); the next one begins."""
        reached, self.reached[index], self.first_step[index] = self.reached[index], False, True
        return reached

    def state(self) -> dict[str, list]:
        return {"reached": list(self.reached), "first_step": list(self.first_step)}


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
        self.goals = EpisodeGoals(env.num_envs, spec.env_id in REWARD_GOAL_TASKS, _goal_state(records, env.num_envs))
        self.clock_started = 0.0
        self.wall_clock_start = time.perf_counter() - records["wall_time"]
        self.checkpoint_due = False
        self.progress, self.progress_interval, self.progress_reported = progress, progress_interval, -float("inf")

    def _on_training_start(self) -> None:
        if self.model.num_timesteps == 0:
            layout = maze_layout(self.eval_env)
            snapshot = None if layout is None else mixture_snapshot(self.model, self.eval_env, layout)
            if snapshot is not None:
                self.records["maze_mixture"] = {**layout, "snapshots": [snapshot]}  # type: ignore[dict-item]
        self._report_progress(force=True)
        self._start_clock()

    def _on_rollout_start(self) -> None:
        # Between rollouts nothing is half done (the last transition stored, its gradient steps taken), so a run
        # resumed from here repeats nothing and skips nothing.
        if self.checkpoint_due:
            self._stop_clock()
            self.records["wall_time"] = self.wall_time()
            self.records["episode_goals"] = self.goals.state()
            self.checkpoint.save(self.model, self.env, self.eval_env, self.records)
            self.checkpoint_due = False
            self._start_clock()

    def _on_step(self) -> bool:
        online = self.records["online"]
        for index, (info, reward) in enumerate(zip(self.locals["infos"], self.locals["rewards"], strict=True)):
            self.goals.step(index, info, reward)
            if "episode" in info:  # Monitor's record of a finished training episode (unnormalised reward)
                online["timesteps"].append(self.num_timesteps)
                online["returns"].append(float(info["episode"]["r"]))
                online["lengths"].append(int(info["episode"]["l"]))
                # Whether the episode reached the goal at any step (None: undetermined, see EpisodeGoals).
                online["reached_goal"].append(self.goals.finish(index))
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
        """Append to the curve: the mean return of ``n_eval_episodes`` deterministic episodes, their success rate (an
        episode succeeds if any of its steps reached the goal: a maze episode goes on after the goal, which the ball
        can leave again), the mixture's statistics on their observations, and the mean return of as many episodes with sampled
        actions."""
        model, curve = self.model, self.records["curve"]
        successes: list[bool] = []
        observations: list[Any] = []
        goals = EpisodeGoals(self.eval_env.num_envs, self.goals.from_reward)

        def on_step(locals_: dict[str, Any], _: dict[str, Any]) -> None:
            observations.append(locals_["observations"])
            index = locals_["i"]
            goals.step(index, locals_["info"], locals_["reward"])
            if locals_["done"]:
                reached = goals.finish(index)
                if reached is not None:
                    successes.append(reached)

        sync_envs_normalization(self.env, self.eval_env)
        returns, _ = evaluate_policy(
            model, self.eval_env, self.n_eval_episodes, deterministic=True, return_episode_rewards=True, callback=on_step
        )
        curve["timesteps"].append(model.num_timesteps)
        curve["returns"].append(float(np.mean(returns)))
        curve["success_rate"].append(float(np.mean(successes)) if successes else None)
        curve["mixture_statistics"].append(model_mixture_statistics(model, _first_rows(observations, 256)))
        maze = self.records.get("maze_mixture")
        if maze is not None and model.num_timesteps >= self.spec.budget:
            maze["snapshots"].append(mixture_snapshot(model, self.eval_env, maze))
        # The action a user's sampled rollouts take: a mixture's deterministic action is one rule among several. Its
        # own random stream, so that training does not depend on being evaluated.
        with th.random.fork_rng(devices=[]):
            th.manual_seed(20_000 + self.spec.seed + model.num_timesteps)
            stochastic, _ = evaluate_policy(
                model, self.eval_env, self.n_eval_episodes, deterministic=False, return_episode_rewards=True
            )
        curve["stochastic_returns"].append(float(np.mean(stochastic)))


def _goal_state(records: dict[str, Any], num_envs: int) -> dict[str, list] | None:
    """The training envs' :class:`EpisodeGoals` state a checkpoint kept; from a checkpoint made before it existed, its
    flags (their episodes' first steps unknown: taken as past)."""
    if records.get("episode_goals"):
        return records["episode_goals"]
    former = records.get("episode_reached_goal")
    return {"reached": list(former), "first_step": [False] * num_envs} if former else None


def _first_rows(observations: list[Any], count: int) -> Any:
    """The first ``count`` rows of a list of batched observations: arrays, or dicts of arrays (goal tasks)."""
    if isinstance(observations[0], dict):
        return {key: np.concatenate([batch[key] for batch in observations])[:count] for key in observations[0]}
    return np.concatenate([np.asarray(batch) for batch in observations])[:count]
