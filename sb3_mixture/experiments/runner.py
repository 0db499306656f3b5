"""
Run a grid of (algorithm key, env id, seed, budget[, entropy coefficient]) in parallel worker processes.

Each run writes one JSON file (written to a temporary name, then renamed, so an interrupted run leaves no result);
a run whose file exists is skipped, so a grid can be interrupted and resumed, or split across machines that share
the folder (``--shard i/n`` gives each machine its own part of the grid). A run also checkpoints itself at every
evaluation (:mod:`sb3_mixture.experiments.checkpoint`), so an interrupted run goes on from its last evaluation.
"""

from __future__ import annotations

import ast
import importlib.resources
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sb3_mixture.experiments.checkpoint import Checkpoint, read_result

RESULT_FORMAT = 2
"""2: adds ``stochastic_returns`` (the same evaluations with sampled actions) and ``online`` (the training episodes'
returns and lengths, as SB3's Monitor records them, and whether each reached the goal). Format-1 files (deterministic
evaluations only) still read."""


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid."""

    algo: str
    env_id: str
    seed: int
    budget: int
    ent_coef: float | None = None
    overrides: tuple[tuple[str, str], ...] = ()  # (name, value as typed) replacing the YAML's, for every algorithm
    arm: tuple[tuple[str, str], ...] = ()  # (name, value as typed) replacing the YAML's for this algorithm only
    conf_dir: str | None = None  # a folder of RL Zoo files (<key>.yml) read instead of the package's and RL Zoo's

    @property
    def name(self) -> str:
        """The algorithm as reports name it: the key, or ``key[name=value,...]`` for an arm of it."""
        return self.algo if not self.arm else f"{self.algo}[{','.join(f'{key}={value}' for key, value in self.arm)}]"

    @property
    def variant(self) -> str:
        """``"default"`` (the YAML's hyperparameters) or the hyperparameter set (``conf=<folder name>``), the overridden
        entropy coefficient and hyperparameters."""
        conf = [] if self.conf_dir is None else [f"conf={Path(self.conf_dir).name}"]
        entropy = [] if self.ent_coef is None else [f"ent_coef={self.ent_coef:g}"]
        changed = conf + entropy + [f"{name}={value}" for name, value in self.overrides]
        return ",".join(changed) or "default"

    def path(self, root: Path) -> Path:
        env_folder = self.env_id.replace("/", "__")
        return root / self.name / env_folder / self.variant / f"seed{self.seed}_budget{self.budget}.json"


def grid(
    algos: Sequence[str],
    env_ids: Sequence[str],
    seeds: Sequence[int],
    budgets: Sequence[int],
    ent_coefs: Sequence[float | None] = (None,),
    overrides: dict[str, str] | None = None,
    conf_dir: str | None = None,
) -> list[RunSpec]:
    """Every combination, in a fixed order (the order shards split); ``overrides`` and ``conf_dir`` (a folder of RL Zoo
    files, one per key) apply to every run.

    The algorithms vary fastest, so an interrupted grid holds complete comparisons (every algorithm on the same seeds)."""
    fixed = tuple(sorted((overrides or {}).items()))
    arms = [parse_arm(algo) for algo in algos]
    return [
        RunSpec(algo, env_id, seed, budget, ent_coef, fixed, arm, conf_dir)
        for env_id in env_ids
        for ent_coef in ent_coefs
        for budget in budgets
        for seed in seeds
        for algo, arm in arms
    ]


def parse_arm(text: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``"key"`` or ``"key[name=value,name=value]"`` (an arm: the key with hyperparameters of its own) -> (key, arm).
    Commas inside brackets or parentheses belong to the value (``policy_kwargs=dict(a=1,b=2)``)."""
    key, bracket, rest = text.partition("[")
    if not bracket:
        return text, ()
    error = ValueError(f"an arm is key[name=value,...], got {text!r}")
    if not rest.endswith("]"):
        raise error
    pairs, depth, start, body = [], 0, 0, rest[:-1]
    for position, character in enumerate(body + ","):
        if character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        elif character == "," and depth == 0:
            name, equals, value = body[start:position].partition("=")
            if not equals or not name.strip() or not value.strip():
                raise error
            pairs.append((name.strip(), value.strip()))
            start = position + 1
    return key, tuple(pairs)


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


def parse_value(text: str) -> Any:
    """A hyperparameter value typed on the command line: a Python literal (``1e-3``, ``256``, ``True``), else the text
    (RL Zoo's own string conventions, such as ``policy_kwargs: "dict(n_components=3)"``, still apply)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def build(spec: RunSpec, folder: Path) -> tuple[Any, Any, Any, dict[str, Any], list[Any]]:
    """The run's model, training env and evaluation env, built by RL Zoo's own ``ExperimentManager`` (the path of
    ``python -m rl_zoo3.train``): its reading of the entry (``policy_kwargs`` expressions, ``lin_`` schedules,
    ``normalize``, ``env_wrapper``, ``frame_stack``, action noise, callbacks) is the one a user gets. The runner only
    resolves the entry (:func:`hyperparameters`: v5 tasks take the v4 entry, a SACMixture key its estimator) and adds
    the run's overrides, as ``--hyperparams`` would. Returns also the entry with its overrides and RL Zoo's callbacks of
    the entry (its ``callback`` key). RL Zoo's logs (Monitor files, ``config.yml``) go to ``folder``. One torch thread
    (runs go side by side)."""
    import argparse
    import contextlib
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
        "code_commit": _code_commit(),
        "versions": package_versions(),
    }
    path = spec.path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    temporary.write_text(json.dumps(result, indent=1))
    temporary.replace(path)  # atomic: a result file is always complete
    checkpoint.delete()
    return result


def _code_commit() -> str | None:
    """The git commit of the package's source when it runs from a checkout (grids span sessions and code changes)."""
    import subprocess

    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None


# What a run's numbers depend on besides the code: the simulator and the libraries around it (None: not installed).
RECORDED_PACKAGES = (
    "torch",
    "numpy",
    "gymnasium",
    "mujoco",
    "stable-baselines3",
    "sb3-contrib",
    "rl-zoo3",
    "dm-control",
    "shimmy",
    "gymnasium-robotics",
)


def package_versions() -> dict[str, str | None]:
    """Python's version and the installed versions of :data:`RECORDED_PACKAGES`, as a run file records them."""
    from importlib import metadata

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def shell_command(recorded: str) -> str:
    """``recorded`` (a run file's ``command``) as a line to paste into a shell: each argument quoted where it needs it.

    Run files written before the runner quoted its arguments hold them joined by single spaces, so an arm such as
    ``crossq[policy_kwargs=dict(net_arch=[256, 256])]`` was split at its space: the words are joined back while a
    bracket is open. A command that is quoted already comes back unchanged."""
    split = shlex.split(recorded)
    if "'" in recorded or '"' in recorded:  # written by shlex.join: its words are whole, brackets in them or not
        return shlex.join(split)
    words: list[str] = []
    depth = 0
    for word in split:
        if depth > 0:
            words[-1] += " " + word
        else:
            words.append(word)
        depth += sum(word.count(opening) for opening in "([{") - sum(word.count(closing) for closing in ")]}")
    if depth != 0:
        raise ValueError(f"unbalanced brackets in the recorded command {recorded!r}")
    return shlex.join(words)


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
