"""
A run's checkpoint: what resuming it needs, saved at every evaluation point next to the run's result file.

``<result>.checkpoint/`` holds the model (with its optimizers), the replay buffer of an off-policy model, the
``VecNormalize`` statistics where the run normalises, the random states of Python, NumPy and PyTorch, and the records
made so far (evaluations, training episodes, training time). It is written to a temporary folder and renamed, so a run
killed while saving keeps its previous checkpoint; a finished run deletes it. A resumed run starts a new training
episode (the environment's own state is not saved) and records the step it resumed at.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np

MODEL, BUFFER, NORMALIZATION, RANDOM_STATES, RECORDS = (
    "model.zip",
    "replay_buffer.pkl",
    "vecnormalize.pkl",
    "rng.pkl",
    "records.json",
)


class CheckpointError(RuntimeError):
    """A checkpoint or result file that cannot be read; the message names the file."""


class Checkpoint:
    """The checkpoint of the run whose result file is ``result_path``."""

    def __init__(self, result_path: Path):
        self.directory = result_path.with_suffix(".checkpoint")

    def exists(self) -> bool:
        return self.directory.is_dir()

    def save(self, model: Any, env: Any, records: dict[str, Any]) -> None:
        """Save the model, its replay buffer, the normalisation statistics, the random states and ``records``."""
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
        states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": th.get_rng_state()}
        (temporary / RANDOM_STATES).write_bytes(pickle.dumps(states))
        (temporary / RECORDS).write_text(json.dumps(records))
        previous = self.directory.with_name(f"{self.directory.name}.old{os.getpid()}")
        if self.directory.exists():
            self.directory.rename(previous)
        temporary.rename(self.directory)  # the new checkpoint is complete before the old one goes
        shutil.rmtree(previous, ignore_errors=True)

    def restore(self, algorithm: Any, env: Any) -> tuple[Any, Any, dict[str, Any]]:
        """The saved model (on ``env``, with its replay buffer), the env (its normalisation statistics restored) and the
        records; the random states are restored too. A missing or unreadable part raises :class:`CheckpointError`."""
        import torch as th
        from stable_baselines3.common.vec_env import VecNormalize

        try:
            records = json.loads((self.directory / RECORDS).read_text())
            if isinstance(env, VecNormalize):
                env = VecNormalize.load(str(self.directory / NORMALIZATION), env.venv)
            model = algorithm.load(self.directory / MODEL, env=env)
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
        return model, env, records

    def delete(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def read_result(path: Path) -> dict[str, Any]:
    """A result file's contents; a truncated or corrupt file raises :class:`CheckpointError` naming it."""
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"the result file {path} cannot be read ({error}); delete it to run it again") from error
    if not isinstance(result, dict) or not {"algo", "env_id"} <= result.keys():
        raise CheckpointError(f"the result file {path} is not a run's result (no algo, env_id); delete it to run it again")
    return result
