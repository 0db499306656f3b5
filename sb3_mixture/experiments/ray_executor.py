"""
Execute a grid's runs on a Ray cluster: each pending run is one Ray task, scheduled as the cluster's nodes free up.

Every node must see the output folder (a shared file system, as for ``--shard``) and have the package installed. A run
writes its checkpoints there (:mod:`~sb3_mixture.experiments.checkpoint`), so a task whose node dies (or whose worker
process is killed) is retried by Ray on another node and goes on from its last checkpoint, exactly as if it had not
stopped. A run that raises is not retried: the driver reports it with its traceback and goes on with the others.
Ctrl-C cancels the tasks; the checkpoints stay, and the same command resumes.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sb3_mixture.experiments.runner import execute, pending, recorded_command
from sb3_mixture.experiments.specs import RunSpec


@dataclass(frozen=True)
class RayResources:
    """What each run asks of Ray: CPUs and GPUs (fractions allowed), and how often a task whose node or worker process
    died is started again (``max_retries``; exceptions of the run itself are never retried)."""

    cpus: float = 1.0
    gpus: float = 0.0
    max_retries: int = 3


@dataclass
class RunState:
    """What the driver knows of one run: its steps so far, the node of each attempt that started, and its end
    (``done``, ``failed`` with the traceback, or ``cancelled``)."""

    spec: RunSpec
    steps: int = 0
    outcome: str | None = None
    error: str | None = None
    nodes: list[str] = field(default_factory=list)


class ProgressBoard:
    """A Ray actor on the driver's node that the tasks tell their step counts (the driver reads it to draw its bar)."""

    def __init__(self) -> None:
        self.reports: dict[int, dict[str, Any]] = {}

    def started(self, index: int, node: str) -> None:
        self._report(index)["nodes"].append(node)

    def progress(self, index: int, steps: int) -> None:
        self._report(index)["steps"] = steps

    def _report(self, index: int) -> dict[str, Any]:
        return self.reports.setdefault(index, {"steps": 0, "nodes": []})

    def snapshot(self) -> dict[int, dict[str, Any]]:
        return self.reports


def lease_path(spec: RunSpec, root: Path) -> Path:
    """``<result>.running``: which host and process hold the run now (left behind by a node that died)."""
    return spec.path(root).with_suffix(".running")


def _run_task(
    index: int, spec: RunSpec, root: str, eval_freq: int, n_eval_episodes: int, command: str, cwd: str, board: Any
) -> str:
    """One run, on whichever node Ray chose: tell the board, hold the lease, train (resuming from a checkpoint)."""
    import ray

    if os.path.isdir(cwd):  # relative paths of the command line (a --conf-dir) as the driver sees them
        os.chdir(cwd)
    node = ray.get_runtime_context().get_node_id()
    board.started.remote(index, node)
    lease = lease_path(spec, Path(root))
    lease.parent.mkdir(parents=True, exist_ok=True)
    lease.write_text(json.dumps({"node": node, "host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}))
    try:
        execute(spec, Path(root), eval_freq, n_eval_episodes, command, lambda steps: board.progress.remote(index, steps))
    finally:
        lease.unlink(missing_ok=True)
    return node


def run_grid_on_ray(
    specs: Sequence[RunSpec],
    root: Path,
    eval_freq: int,
    n_eval_episodes: int,
    address: str,
    resources: RayResources = RayResources(),
    shard: tuple[int, int] = (0, 1),
    command: str | None = None,
    progress_bar: bool = True,
    poll_interval: float = 1.0,
) -> list[RunState]:
    """As :func:`~sb3_mixture.experiments.runner.run_grid`, on the Ray cluster at ``address`` (``auto``,
    ``host:port``, ``ray://host:port``; ``local`` starts a Ray instance on this machine): the pending runs' states
    (done, failed with the traceback, or cancelled), after a summary is printed."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    from tqdm.auto import tqdm

    ray.init(address=None if address == "local" else address, log_to_driver=False, include_dashboard=False)
    try:
        here = ray.get_runtime_context().get_node_id()
        board: Any = (
            ray.remote(ProgressBoard)
            .options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False))
            .remote()
        )
        task = ray.remote(_run_task).options(
            num_cpus=resources.cpus, num_gpus=resources.gpus, max_retries=resources.max_retries, retry_exceptions=False
        )
        todo = pending(specs, root, shard)
        command = command or recorded_command()
        absolute_root = str(Path(root).resolve())
        states = [RunState(spec) for spec in todo]
        unfinished = {
            task.remote(index, spec, absolute_root, eval_freq, n_eval_episodes, command, os.getcwd(), board): index
            for index, spec in enumerate(todo)
        }
        bar = tqdm(total=sum(spec.budget for spec in todo), unit="step", desc="grid", disable=not progress_bar)
        try:
            while unfinished:
                ready, _ = ray.wait(list(unfinished), num_returns=len(unfinished), timeout=poll_interval)
                for reference in ready:
                    state = states[unfinished.pop(reference)]
                    try:
                        ray.get(reference)
                        state.outcome, state.steps = "done", state.spec.budget
                    except ray.exceptions.RayError as error:  # the run raised, or its retries ran out
                        state.outcome, state.error = "failed", str(error)
                _update(states, ray.get(board.snapshot.remote()), bar)
        except KeyboardInterrupt:
            for reference, index in unfinished.items():
                ray.cancel(reference, force=True)
                states[index].outcome = "cancelled"
            bar.close()
            print(summary(states, root))
            raise
        _update(states, ray.get(board.snapshot.remote()), bar)
        bar.close()
    finally:
        ray.shutdown()
    print(summary(states, root))
    return states


def _update(states: list[RunState], reports: dict[int, dict[str, Any]], bar: Any) -> None:
    """The states from the board's reports, and the bar: steps over the grid, the runs done, running and failed."""
    for index, report in reports.items():
        state = states[index]
        if state.outcome is None:
            state.steps = report["steps"]
        state.nodes = list(report["nodes"])
    bar.total = sum(state.spec.budget for state in states if state.outcome != "failed")  # the steps there are to train
    bar.n = sum(state.steps for state in states if state.outcome != "failed")
    running = [state for state in states if state.outcome is None and state.nodes]
    counts = {outcome: sum(state.outcome == outcome for state in states) for outcome in ("done", "failed")}
    now = ", ".join(f"{_label(state.spec)} {state.steps}/{state.spec.budget}" for state in running)
    bar.set_postfix_str(f"done {counts['done']}/{len(states)}, running {len(running)}, failed {counts['failed']}: {now}")


def _label(spec: RunSpec) -> str:
    return f"{spec.name} {spec.env_id} seed {spec.seed}"


def summary(states: Sequence[RunState], root: Path) -> str:
    """One line per run (outcome, steps, attempts and their nodes), then each failed run's traceback."""
    lines = [f"Ray grid, {len(states)} runs, results under {root}:"]
    for state in states:
        nodes = ", ".join(node[:8] for node in state.nodes) or "-"
        outcome = state.outcome or "unfinished"
        lines.append(
            f"  {outcome:9} {_label(state.spec)}: {state.steps}/{state.spec.budget} steps, "
            f"{len(state.nodes)} attempt(s) on node(s) {nodes}"
        )
    for state in states:
        if state.outcome == "failed":
            lines += [f"{_label(state.spec)} failed:", state.error or ""]
    return "\n".join(lines)
