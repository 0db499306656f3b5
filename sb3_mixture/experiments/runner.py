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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sb3_mixture.experiments.building import algorithm_classes, build
from sb3_mixture.experiments.checkpoint import Checkpoint, read_result
from sb3_mixture.experiments.provenance import MODULE, code_commit, package_versions, processor
from sb3_mixture.experiments.specs import RunSpec

RESULT_FORMAT = 2
"""2: adds ``stochastic_returns`` (the same evaluations with sampled actions) and ``online`` (the training episodes'
returns and lengths, as SB3's Monitor records them, and whether each reached the goal). Format-1 files (deterministic
evaluations only) still read."""


def execute(
    spec: RunSpec,
    root: Path,
    eval_freq: int,
    n_eval_episodes: int,
    command: str,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train one run, evaluating every ``eval_freq`` steps, and write its result file (RL Zoo's own logs of the run go
    to a temporary folder, removed after). ``progress`` is called with the run's step count every few seconds."""
    checkpoint = Checkpoint(spec.path(root))
    logs = Path(tempfile.mkdtemp(prefix="sb3-mixture-run-"))
    try:
        return _execute(spec, root, eval_freq, n_eval_episodes, command, checkpoint, logs, progress)
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def _execute(
    spec: RunSpec,
    root: Path,
    eval_freq: int,
    n_eval_episodes: int,
    command: str,
    checkpoint: Checkpoint,
    logs: Path,
    progress: Callable[[int], None] | None,
) -> dict[str, Any]:
    from sb3_mixture.experiments.recording import RunRecorder, new_records

    model, env, eval_env, hyperparams, zoo_callbacks = build(spec, logs)
    records = new_records()
    if checkpoint.exists():  # an earlier process stopped mid-run: go on from its last evaluation
        model, env, eval_env, records, exact = checkpoint.restore(algorithm_classes()[spec.algo], env, eval_env)
        records["resumed_at"].append(model.num_timesteps)
        records.setdefault("resumed_exactly", []).append(exact)
        if not exact:
            env.seed(spec.seed + 7919 * len(records["resumed_at"]))  # a new episode, not a replay of the first ones
    recorder = RunRecorder(spec, env, eval_env, eval_freq, n_eval_episodes, checkpoint, records, progress)
    resumed = bool(records["resumed_at"])
    model.learn(spec.budget - model.num_timesteps, callback=[recorder, *zoo_callbacks], reset_num_timesteps=not resumed)
    curve = records["curve"]
    if not curve["timesteps"] or curve["timesteps"][-1] != model.num_timesteps:
        recorder.evaluate()
    result = {
        "format": RESULT_FORMAT,
        **asdict(spec),
        "name": spec.name,
        "variant": spec.variant,
        "hyperparameters": {key: str(value) for key, value in hyperparams.items()},
        "eval_freq": eval_freq,
        "n_eval_episodes": n_eval_episodes,
        **curve,
        "online": records["online"],
        "resumed_at": records["resumed_at"],
        "resumed_exactly": records.get("resumed_exactly", []),
        "final_return": curve["returns"][-1],
        "final_stochastic_return": curve["stochastic_returns"][-1],
        "final_success_rate": curve["success_rate"][-1],
        "final_mixture_statistics": curve["mixture_statistics"][-1],
        "maze_mixture": records.get("maze_mixture"),
        "wall_time": recorder.wall_time(),
        "env_steps_per_second": model.num_timesteps / max(records["training_time"], 1e-9),
        "command": command,
        "machine": platform.node(),
        "cpu": processor(),
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


def recorded_command() -> str:
    """This process's command line as a run file records it (shell words, the module by its present name)."""
    return shlex.join(["python", "-m", MODULE, *sys.argv[1:]])


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
    command = command or recorded_command()
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
