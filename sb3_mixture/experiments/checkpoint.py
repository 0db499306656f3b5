"""
A run's checkpoint: what resuming it needs, saved at every evaluation point next to the run's result file.

``<result>.checkpoint/`` holds the model (with its optimizers), the replay buffer of an off-policy model, the
``VecNormalize`` statistics where the run normalises, the random states of Python, NumPy, PyTorch and the action
space, the records made so far (evaluations, training episodes, training time) and the training and evaluation
environments mid-episode (:func:`dump_environments`). It is written to a temporary folder and renamed, so a run killed
while saving keeps its previous checkpoint; a finished run deletes it. A run resumed from a checkpoint with its
environments goes on exactly as if it had not stopped (the same numbers); where the environments cannot be pickled (a
``SubprocVecEnv``) it starts a new training episode instead.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np

MODEL, BUFFER, NORMALIZATION, RANDOM_STATES, RECORDS, ENVIRONMENTS = (
    "model.zip",
    "replay_buffer.pkl",
    "vecnormalize.pkl",
    "rng.pkl",
    "records.json",
    "environments.pkl",
)
_MONITOR_WRITER = "monitor-results-writer"


def _set_attributes(instance: Any, attributes: dict[str, Any]) -> None:
    import inspect

    from stable_baselines3.common.vec_env import VecEnvWrapper

    instance.__dict__.update(attributes)
    if isinstance(instance, VecEnvWrapper):  # its table of class members (left out: it holds unpicklable ABC data)
        instance.class_attributes = dict(inspect.getmembers(type(instance)))


def dump_environments(*envs: Any) -> bytes | None:
    """The environments pickled mid-episode, or None where one cannot be pickled (a ``SubprocVecEnv``'s pipes).

    Two departures from plain pickling: objects whose own pickling leaves state out are pickled by their attributes
    (Gymnasium's ``EzPickle`` envs, the MuJoCo tasks, pickle their constructor arguments, which rebuild them at a
    fresh state; ``VecNormalize`` drops the env it wraps; MuJoCo's ``MjData`` pickles itself whole), and so are SB3's
    ``VecEnvWrapper`` objects, without their table of class members, which does not pickle; and Monitor's
    open CSV writer is left behind (the resumed Monitor writes no file; the runner records episodes from Monitor's
    ``info``, not from its files)."""
    import cloudpickle
    from gymnasium.utils import EzPickle
    from stable_baselines3.common.monitor import ResultsWriter
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class EnvironmentPickler(cloudpickle.CloudPickler):
        def persistent_id(self, obj: Any) -> str | None:
            return _MONITOR_WRITER if isinstance(obj, ResultsWriter) else None

        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, EzPickle | VecEnvWrapper) and not isinstance(obj, type):
                attributes = {name: value for name, value in obj.__dict__.items() if name != "class_attributes"}
                return object.__new__, (type(obj),), attributes, None, None, _set_attributes
            return super().reducer_override(obj)

    buffer = io.BytesIO()
    try:
        EnvironmentPickler(buffer).dump(envs)
    except (TypeError, AttributeError, pickle.PicklingError):
        return None
    return buffer.getvalue()


def load_environments(data: bytes) -> tuple[Any, ...]:
    """The environments :func:`dump_environments` pickled (their Monitors with no CSV writer)."""

    class EnvironmentUnpickler(pickle.Unpickler):
        def persistent_load(self, pid: Any) -> None:
            if pid != _MONITOR_WRITER:
                raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")

    return EnvironmentUnpickler(io.BytesIO(data)).load()


class CheckpointError(RuntimeError):
    """A checkpoint or result file that cannot be read; the message names the file."""


class Checkpoint:
    """The checkpoint of the run whose result file is ``result_path``."""

    def __init__(self, result_path: Path):
        self.directory = result_path.with_suffix(".checkpoint")

    def exists(self) -> bool:
        """Whether there is a checkpoint; one killed between its two renames in :meth:`save` is put back first."""
        if not self.directory.is_dir():
            previous = sorted(self.directory.parent.glob(f"{self.directory.name}.old*"))
            if previous:
                previous[-1].rename(self.directory)
        return self.directory.is_dir()

    def save(self, model: Any, env: Any, eval_env: Any, records: dict[str, Any]) -> None:
        """Save the model, its replay buffer, the normalisation statistics, the random states, ``records`` and both
        environments. Called between a rollout and the next (after the gradient steps), where nothing is half done."""
        import torch as th
        from stable_baselines3.common.vec_env import VecNormalize

        temporary = self.directory.with_name(f"{self.directory.name}.tmp{os.getpid()}")
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir(parents=True)
        model.save(temporary / MODEL)
        if getattr(model, "replay_buffer", None) is not None:
            model.save_replay_buffer(temporary / BUFFER)
        if isinstance(env, VecNormalize):
            env.save(str(temporary / NORMALIZATION))
        environments = dump_environments(env, eval_env)
        if environments is not None:
            (temporary / ENVIRONMENTS).write_bytes(environments)
        states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": th.get_rng_state()}
        states["action_space"] = model.action_space  # with its generator: the random actions before learning_starts
        (temporary / RANDOM_STATES).write_bytes(pickle.dumps(states))
        (temporary / RECORDS).write_text(json.dumps(records))
        previous = self.directory.with_name(f"{self.directory.name}.old{os.getpid()}")
        if self.directory.exists():
            self.directory.rename(previous)
        temporary.rename(self.directory)  # the new checkpoint is complete before the old one goes
        shutil.rmtree(previous, ignore_errors=True)

    def restore(self, algorithm: Any, env: Any, eval_env: Any) -> tuple[Any, Any, Any, dict[str, Any], bool]:
        """The saved model with its replay buffer, the training and evaluation envs, the records, and whether the envs
        are those saved mid-episode (else ``env`` and ``eval_env``, the normalisation statistics restored, and the next
        episode starts afresh); the random states are restored too. An unreadable part raises :class:`CheckpointError`."""
        import torch as th
        from stable_baselines3.common.vec_env import VecNormalize

        try:
            records = json.loads((self.directory / RECORDS).read_text())
            exact = (self.directory / ENVIRONMENTS).is_file()
            if exact:
                env, eval_env = load_environments((self.directory / ENVIRONMENTS).read_bytes())
            elif isinstance(env, VecNormalize):
                env = VecNormalize.load(str(self.directory / NORMALIZATION), env.venv)
            # force_reset=False keeps the saved model's last observation, which the saved env is at.
            model = algorithm.load(self.directory / MODEL, env=env, force_reset=not exact)
            if (self.directory / BUFFER).exists():
                model.load_replay_buffer(self.directory / BUFFER)
            states = pickle.loads((self.directory / RANDOM_STATES).read_bytes())
        except Exception as error:  # any unreadable part: name the checkpoint, never skip the run silently
            raise CheckpointError(
                f"the checkpoint {self.directory} cannot be read ({type(error).__name__}: {error}); "
                "delete it to restart this run from the beginning"
            ) from error
        random.setstate(states["python"])
        np.random.set_state(states["numpy"])
        th.set_rng_state(states["torch"])
        if "action_space" in states:  # loading re-seeded its generator
            model.action_space = states["action_space"]
        return model, env, eval_env, records, exact

    def delete(self) -> None:
        """Remove the checkpoint and what killed processes left of theirs (``.tmp<pid>``, ``.old<pid>``)."""
        for path in [self.directory, *self.directory.parent.glob(f"{self.directory.name}.*")]:
            shutil.rmtree(path, ignore_errors=True)


def read_result(path: Path) -> dict[str, Any]:
    """A result file's contents; a truncated or corrupt file raises :class:`CheckpointError` naming it."""
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"the result file {path} cannot be read ({error}); delete it to run it again") from error
    if not isinstance(result, dict) or not {"algo", "env_id"} <= result.keys():
        raise CheckpointError(f"the result file {path} is not a run's result (no algo, env_id); delete it to run it again")
    return result
