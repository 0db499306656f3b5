"""The benchmark runner (resume, shards), the rliable aggregation and the plots."""

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium
import mujoco  # the tests extra installs it (tests/test_zoo.py trains Hopper-v5 too)
import numpy as np
import pytest
import torch
from rliable import library as rly
from rliable import metrics
from scipy import stats

from sb3_mixture import PPOMixture, SACMixture
from sb3_mixture.experiments import grid, run_grid, write_report
from sb3_mixture.experiments.auc import GOAL_FROM_RETURN_TASKS
from sb3_mixture.experiments.recording import REWARD_GOAL_TASKS
from sb3_mixture.experiments.runner import pending
from sb3_mixture.experiments.specs import RunSpec
from sb3_mixture.experiments.statistics import (
    curve_intervals,
    improvement_intervals,
    interquartile_mean,
    iqm_intervals,
    probability_of_improvement,
)
from sb3_mixture.plots import plot_mixture_density, plot_mixture_statistics
from tests.helpers import FAST_KWARGS

BANDIT = "sb3_mixture/BimodalBandit-v0"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    specs = grid(["sac", "sac_mrp"], [BANDIT], seeds=[0, 1], budgets=[120])
    executed = run_grid(specs, root, eval_freq=40, n_eval_episodes=2, workers=1, command="test grid", progress_bar=False)
    assert len(executed) == 4
    return root


def test_result_files_hold_curves_and_statistics(runs: Path) -> None:
    files = sorted(runs.rglob("*.json"))
    assert len(files) == 4
    import json

    result = json.loads((runs / "sac_mrp" / "sb3_mixture__BimodalBandit-v0" / "default" / "seed0_budget120.json").read_text())
    assert result["timesteps"] == [40, 80, 120]
    assert len(result["returns"]) == 3 and all(0.0 <= value <= 1.0 for value in result["returns"])
    assert result["final_success_rate"] in (0.0, 0.5, 1.0)
    assert set(result["final_mixture_statistics"]) == {"weight_entropy", "component_separation", "active_component_separation"}
    assert result["env_steps_per_second"] > 0 and result["wall_time"] > 0
    # The simulator's and libraries' versions, read independently of the runner's own helper.
    assert result["versions"]["python"] == sys.version.split()[0]
    assert result["versions"]["torch"] == torch.__version__ and result["versions"]["gymnasium"] == gymnasium.__version__
    assert result["versions"]["mujoco"] == mujoco.__version__
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout  # the CPU, read another way
    fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lscpu.splitlines())}
    assert result["cpu"].startswith(fields["Model name"]) and f"model {fields['Model']})" in result["cpu"]
    sac = json.loads((runs / "sac" / "sb3_mixture__BimodalBandit-v0" / "default" / "seed0_budget120.json").read_text())
    assert sac["final_mixture_statistics"] is None


def test_runner_resumes_without_redoing_finished_runs(runs: Path) -> None:
    specs = grid(["sac", "sac_mrp"], [BANDIT], seeds=[0, 1], budgets=[120])
    stamps = {path: path.stat().st_mtime_ns for path in runs.rglob("*.json")}
    # An interrupted run leaves at most a temporary file, which does not count as finished.
    removed = specs[1].path(runs)
    removed.rename(removed.with_suffix(".tmp123"))
    assert pending(specs, runs) == [specs[1]]
    executed = run_grid(specs, runs, eval_freq=40, n_eval_episodes=2, workers=1, command="test grid", progress_bar=False)
    assert executed == [specs[1]]
    for path, stamp in stamps.items():
        if path != removed:
            assert path.stat().st_mtime_ns == stamp
    assert run_grid(specs, runs, eval_freq=40, n_eval_episodes=2, progress_bar=False) == []


def test_shards_partition_the_grid() -> None:
    specs = grid(["sac", "sac_mrp", "sacm"], [BANDIT, "Pendulum-v1"], seeds=[0, 1, 2], budgets=[100])
    shards = [pending(specs, Path("/nonexistent"), (index, 3)) for index in range(3)]
    assert sorted(repr(spec) for shard in shards for spec in shard) == sorted(map(repr, specs))
    assert all(not set(shards[0]) & set(shard) for shard in shards[1:])


def test_report_reproduces_from_the_result_files(runs: Path, tmp_path: Path) -> None:
    output = tmp_path / "report.md"
    first = write_report(runs, output, reps=300)
    image = tmp_path / "report_sb3_mixture__BimodalBandit-v0_default_120.png"
    assert image.read_bytes().startswith(PNG_SIGNATURE)
    image.unlink()
    output.unlink()
    second = write_report(runs, output, reps=300)
    assert first == second and output.read_text() == first and image.is_file()
    assert "| sac_mrp | 2 |" in first and "P(> sac)" in first and "    test grid" in first
    assert f"    python -m sb3_mixture.experiments report --runs {runs} --out {output} --reps 300 --title Benchmark\n" in first
    # A note goes under the title, and the recorded command, read by the command line's parser, gives it back.
    from sb3_mixture.experiments.__main__ import build_parser

    note = "FetchSlide was cut: it's 3M steps at RL Zoo's settings."
    noted = write_report(runs, output, reps=300, note=note)
    assert noted.split("\n\n")[2] == note
    recorded = next(line for line in noted.splitlines() if "experiments report " in line)
    assert build_parser().parse_args(shlex.split(recorded)[3:]).note == note
    # Format-2 runs also carry sampled-action evaluations: their own table, against their own final returns.
    sampled = first[first.index("Evaluated with sampled actions") :]
    assert (tmp_path / "report_sb3_mixture__BimodalBandit-v0_default_120_sampled.png").is_file()
    from sb3_mixture.experiments.results import final_scores, group_by_task, load_results
    from sb3_mixture.experiments.statistics import iqm_intervals

    (task,) = group_by_task(load_results(runs)).values()
    expected = iqm_intervals({"sac_mrp": final_scores(task["sac_mrp"], "stochastic_returns")}, reps=300)["sac_mrp"]
    assert f"| sac_mrp | 2 | {expected} |" in sampled


def test_report_counts_the_runs_that_ever_succeeded(tmp_path: Path) -> None:
    import json

    def result(algo: str, seed: int, success_rate: list) -> dict:
        returns = [-100.0 + seed, -90.0 + seed]
        return {
            "algo": algo, "env_id": "Task-v0", "variant": "default", "budget": 20, "seed": seed, "command": "made up",
            "timesteps": [10, 20], "returns": returns, "final_return": returns[-1], "success_rate": success_rate,
            "final_success_rate": success_rate[-1], "env_steps_per_second": 1.0,
        }  # fmt: skip

    # sac: one run succeeded once and then lost it; sac_mrp: two runs succeeded at the end.
    runs = [result("sac", 0, [0.0, 0.0]), result("sac", 1, [0.4, 0.0]), result("sac", 2, [0.0, 0.0])]
    runs += [result("sac_mrp", 0, [0.0, 1.0]), result("sac_mrp", 1, [0.2, 0.6]), result("sac_mrp", 2, [0.0, 0.0])]
    runs += [result("td3", seed, [None, None]) for seed in range(3)]
    for run in runs:
        path = tmp_path / "runs" / f"{run['algo']}{run['seed']}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(run))
    report = write_report(tmp_path / "runs", tmp_path / "report.md", reps=100)
    assert "| sac | 3 | " in report and "| 0.00 | 1/3 |" in report
    assert "| 0.53 | 2/3 |" in report  # sac_mrp: final success (1.0 + 0.6 + 0.0) / 3
    assert "| td3 | 3 | " in report and "| - | - |" in report
    areas = report[report.index("Areas under the learning curves") :]
    assert areas.count(" | 2/3 |") == 1 and areas.count(" | 1/3 |") == 1  # never reached: sac 2 runs, sac_mrp 1


def test_every_algorithm_of_a_figure_has_a_colour_of_its_own() -> None:
    """Keys keep one colour across figures; arms (here two of sac_mrp) take colours no other algorithm of the figure has."""
    from sb3_mixture.experiments.figures import algorithm_colours

    arms = ["sac_mrp[ent_coef=0.1]", "sac_mrp[policy_kwargs=dict(n_components=1)]", "ppo_pmoe[gate_gradient=routing_only]"]
    colours = algorithm_colours(["sac", "sac_mrp", *arms])
    assert len(set(colours.values())) == 5
    assert (
        colours["sac"] == algorithm_colours(["sac"])["sac"] and colours["sac_mrp"] == algorithm_colours(["sac_mrp"])["sac_mrp"]
    )


def test_online_curve_is_the_return_of_each_steps_episode() -> None:
    from sb3_mixture.experiments.auc import online_curve

    run = {"online": {"timesteps": [3, 10, 12], "returns": [-3.0, -7.0, 5.0], "lengths": [3, 7, 2]}}
    steps = np.array([1, 3, 4, 10, 11, 12, 20])  # steps 1-3 in the first episode, 4-10 the second, 11-12 the third
    np.testing.assert_array_equal(online_curve(run, steps), [-3.0, -3.0, -7.0, -7.0, 5.0, 5.0, 5.0])


def test_report_compares_each_task_with_the_reference_it_has(tmp_path: Path) -> None:
    """A tuned baseline is named by its setting, which differs by task: each task takes the first reference it has."""
    import json

    for env_id, baseline in (("A-v0", "k1[lr=1]"), ("B-v0", "k1[lr=2]")):
        for algo in ("k5", baseline):
            for seed in range(3):
                returns = [-10.0 + seed + (algo == "k5"), -5.0 + seed]
                run = {
                    "algo": algo, "env_id": env_id, "variant": "default", "budget": 20, "seed": seed, "command": "made up",
                    "timesteps": [10, 20], "returns": returns, "final_return": returns[-1], "success_rate": [None, None],
                    "final_success_rate": None, "env_steps_per_second": 1.0,
                    "online": {"timesteps": [10, 20], "returns": returns, "lengths": [10, 10], "reached_goal": [False, True]},
                }  # fmt: skip
                path = tmp_path / "runs" / f"{env_id}{algo}{seed}.json"
                path.parent.mkdir(exist_ok=True)
                path.write_text(json.dumps(run))
    report = write_report(tmp_path / "runs", tmp_path / "report.md", reps=100, references=("k1[lr=1]", "k1[lr=2]"))
    task_a, task_b = report.split("## B-v0")
    assert "P(> k1[lr=1])" in task_a and "P(> k1[lr=2])" not in task_a
    assert "P(> k1[lr=2])" in task_b and "P(> k1[lr=1])" not in task_b
    assert "--reference 'k1[lr=1]' 'k1[lr=2]'" in report
    assert (tmp_path / "report_B-v0_default_20_online.png").is_file() and "![online learning curves]" in task_b


def synthetic_scores(n_runs: int = 7, seed: int = 0) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(seed)
    return {"sac": generator.normal(0.0, 1.0, (n_runs, 1)), "sac_mrp": generator.normal(0.5, 1.0, (n_runs, 1))}


def seeded(seed: int) -> np.random.RandomState:
    """rliable 1.2 bootstraps from NumPy's global generator: seed it as the report does."""
    np.random.seed(seed)
    return np.random.RandomState(seed)


@pytest.mark.parametrize("kind", ["normal", "ties", "integers", "column", "row", "fortran"])
def test_interquartile_mean_is_rliables_to_the_bit(kind: str) -> None:
    """The reports' IQM gives rliable's ``aggregate_iqm`` (SciPy's 25%-trimmed mean over all entries) exactly, at
    every size from 1 (where nothing is trimmed) up, so the committed reports do not change by a digit."""
    generator = np.random.default_rng(0)
    for size in [*range(1, 41), 257]:
        scores = generator.normal(size=size) * 10.0 ** generator.integers(-3, 4)
        scores = {
            "normal": scores,
            "ties": np.round(scores),
            "integers": generator.integers(0, 3, size=size),
            "column": scores.reshape(size, 1),
            "row": scores.reshape(1, size),
            "fortran": np.asfortranarray(np.stack([scores, -scores], axis=1)),
        }[kind]
        assert interquartile_mean(scores) == metrics.aggregate_iqm(scores), (kind, size)
    with_nan = np.array([1.0, np.nan, 2.0])
    assert np.isnan(interquartile_mean(with_nan)) and np.isnan(metrics.aggregate_iqm(with_nan))


@pytest.mark.parametrize("kind", ["normal", "ties", "integers", "equal"])
def test_probability_of_improvement_is_rliables_to_the_bit(kind: str) -> None:
    """The reports' P(X > Y) gives rliable's (SciPy's Mann-Whitney U by ranks) exactly, for any run counts and tasks."""
    generator = np.random.default_rng(1)
    for runs_x, runs_y, tasks in [(1, 1, 1), (5, 5, 1), (5, 10, 1), (10, 5, 3), (3, 7, 2), (11, 4, 1)]:
        x: np.ndarray = generator.normal(size=(runs_x, tasks))
        y: np.ndarray = generator.normal(size=(runs_y, tasks))
        if kind == "ties":
            x, y = np.round(x), np.round(y)
        elif kind == "integers":
            x, y = generator.integers(0, 3, size=(runs_x, tasks)), generator.integers(0, 3, size=(runs_y, tasks))
        elif kind == "equal":
            y = np.concatenate([x, x])[:runs_y]
        assert probability_of_improvement(x, y) == metrics.probability_of_improvement(x, y), (kind, runs_x, runs_y)
    x, y = np.array([[1.0], [np.nan]]), np.array([[0.0]])
    assert np.isnan(probability_of_improvement(x, y)) and np.isnan(metrics.probability_of_improvement(x, y))


def test_aggregation_matches_rliable_called_directly() -> None:
    scores = synthetic_scores()
    ours = iqm_intervals(scores, reps=500, seed=3)
    point, interval = rly.get_interval_estimates(
        scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=500, random_state=seeded(3)
    )
    for algo in scores:
        assert (ours[algo].value, ours[algo].low, ours[algo].high) == (
            point[algo][0],
            interval[algo][0, 0],
            interval[algo][1, 0],
        )
        # and the IQM is the 25%-trimmed mean, independently of rliable
        assert ours[algo].value == pytest.approx(stats.trim_mean(scores[algo].ravel(), 0.25))
    improvement = improvement_intervals(scores, "sac", reps=500, seed=3)
    point, interval = rly.get_interval_estimates(
        {"sac_mrp": [scores["sac_mrp"], scores["sac"]]},
        metrics.probability_of_improvement,
        reps=500,
        random_state=seeded(3),
    )
    assert improvement["sac_mrp"].value == pytest.approx(float(point["sac_mrp"]))
    assert (improvement["sac_mrp"].low, improvement["sac_mrp"].high) == tuple(np.ravel(interval["sac_mrp"]))
    # P(X > Y) by counting pairs (ties count half), independently of rliable
    x, y = scores["sac_mrp"].ravel(), scores["sac"].ravel()
    assert improvement["sac_mrp"].value == pytest.approx(((x[:, None] > y) + 0.5 * (x[:, None] == y)).mean())


def test_relative_area_is_the_ratio_of_means_with_a_bootstrap_interval() -> None:
    """The PMOE paper's "% of PPO's AUC": 100 mean(x) / mean(y), its CI from resampling each arm's runs independently
    (checked against a numpy percentile bootstrap of its own); no ratio where the reference's areas can be <= 0."""
    from sb3_mixture.experiments.statistics import relative_mean_intervals

    generator = np.random.default_rng(0)
    x, y = generator.normal(120.0, 30.0, size=(8, 1)), generator.normal(100.0, 10.0, size=(8, 1))
    relative = relative_mean_intervals({"ppo": y, "ppo_pmoe": x}, "ppo", reps=4000)
    assert set(relative) == {"ppo_pmoe"}
    assert relative["ppo_pmoe"].value == pytest.approx(100 * x.mean() / y.mean())
    rows = generator.integers(0, 8, size=(2, 20_000, 8))
    ratios = 100 * x.ravel()[rows[0]].mean(axis=1) / y.ravel()[rows[1]].mean(axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    assert relative["ppo_pmoe"].low == pytest.approx(low, abs=0.1 * (high - low))
    assert relative["ppo_pmoe"].high == pytest.approx(high, abs=0.1 * (high - low))
    assert relative_mean_intervals({"ppo": np.array([[-5.0], [10.0]]), "ppo_pmoe": x[:2]}, "ppo", reps=100) == {}


def test_learning_curve_bands_match_rliable() -> None:
    curves = {"sac": np.random.default_rng(1).normal(size=(5, 1, 4))}
    point, interval = curve_intervals(curves, reps=300, seed=2)
    for t in range(4):
        expected, _ = rly.get_interval_estimates(
            {"sac": curves["sac"][..., t]},
            lambda x: np.array([metrics.aggregate_iqm(x)]),
            reps=300,
            random_state=seeded(2),
        )
        assert point["sac"][t] == pytest.approx(expected["sac"][0])
    assert interval["sac"].shape == (2, 4)


def test_plot_functions_write_png(runs: Path, tmp_path: Path) -> None:
    model = SACMixture("MlpPolicy", "Pendulum-v1", **FAST_KWARGS, seed=0)
    model.learn(100)
    plot_mixture_density(model, model.observation_space.sample(), tmp_path / "density.png")
    ppo = PPOMixture("MlpPolicy", "Pendulum-v1", n_steps=64, batch_size=32, seed=0)
    plot_mixture_density(ppo, ppo.observation_space.sample(), tmp_path / "ppo_density.png")
    plot_mixture_statistics(sorted((runs / "sac_mrp").rglob("*.json")), tmp_path / "statistics.png")
    for name in ("density.png", "ppo_density.png", "statistics.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5_000


def test_density_plot_refuses_a_non_mixture_policy() -> None:
    from stable_baselines3 import SAC

    with pytest.raises(ValueError, match="mixture policy over a 1-D action"):
        plot_mixture_density(SAC("MlpPolicy", "Pendulum-v1"), np.zeros(3, dtype=np.float32))


def build_with(monkeypatch: pytest.MonkeyPatch, key: str, cls: type) -> None:
    """Runs of ``key`` build ``cls``: in RL Zoo's table of algorithms, which its experiment manager (the runner's
    builder) reads, and in the runner's own, which resuming reads."""
    from rl_zoo3.utils import ALGOS

    from sb3_mixture.experiments import runner
    from sb3_mixture.zoo import register

    register()
    monkeypatch.setitem(ALGOS, key, cls)
    monkeypatch.setattr(runner, "algorithm_classes", lambda: {key: cls})


def test_runner_builds_what_rl_zoo_trains(tmp_path: Path) -> None:
    """The runner's model and environments for a key and task are those ``python -m rl_zoo3.train`` builds from the same
    entry: the same hyperparameters (an ``n_envs``, ``normalize`` and float-typed entry here), the same VecNormalize
    settings, the same wrapper chain. An override reaches both the same way (``--hyperparams`` in RL Zoo)."""
    import pickle

    import yaml

    from sb3_mixture.experiments.building import build
    from sb3_mixture.experiments.specs import RunSpec

    key, env_id = "ppo_mixture", "MountainCarContinuous-v0"
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", key, "--env", env_id, "-n", "16", "--seed", "3"]
    command += ["--eval-freq", "-1", "-f", "zoo", "--hyperparams", "n_steps:16", "batch_size:8"]
    completed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    saved = tmp_path / "zoo" / key / f"{env_id}_1"
    zoo_model = PPOMixture.load(saved / f"{env_id}.zip")
    zoo_normalize = pickle.loads((saved / env_id / "vecnormalize.pkl").read_bytes())
    zoo_config = dict(yaml.unsafe_load((saved / env_id / "config.yml").read_text()))

    spec = RunSpec(key, env_id, seed=3, budget=16, overrides=(("n_steps", "16"), ("batch_size", "8")))
    (tmp_path / "runner").mkdir()
    model, env, _, hyperparams, _ = build(spec, tmp_path / "runner")
    runner_config = dict(yaml.unsafe_load((tmp_path / "runner" / key / f"{env_id}_1" / env_id / "config.yml").read_text()))
    assert {name: value for name, value in runner_config.items() if name != "n_timesteps"} == {
        name: value for name, value in zoo_config.items() if name != "n_timesteps"
    }
    for name in ("n_envs", "n_steps", "batch_size", "gamma", "gae_lambda", "n_epochs", "ent_coef", "vf_coef", "max_grad_norm"):
        assert getattr(model, name) == getattr(zoo_model, name), name
    assert callable(model.clip_range) and callable(zoo_model.clip_range)  # typed float | Schedule; set up: a schedule
    assert model.lr_schedule(1.0) == zoo_model.lr_schedule(1.0) and model.clip_range(1.0) == zoo_model.clip_range(1.0)
    assert model.policy_kwargs == zoo_model.policy_kwargs and model.policy_kwargs["n_components"] == 5
    for name in ("norm_obs", "norm_reward", "clip_obs", "clip_reward", "gamma", "epsilon"):
        assert getattr(env, name) == getattr(zoo_normalize, name), name
    wrappers, wrapped = [], env
    while hasattr(wrapped, "venv"):
        wrappers.append(type(wrapped).__name__)
        wrapped = wrapped.venv
    assert wrappers == ["VecNormalize"] and type(wrapped).__name__ == "DummyVecEnv"
    assert type(wrapped.envs[0]).__name__ == "Monitor" and hyperparams["n_steps"] == 16


def test_cli_names_the_allowed_algorithms() -> None:
    command = [sys.executable, "-m", "sb3_mixture.experiments", "run", "--algos", "nope", "--envs", BANDIT, "--budgets", "10"]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert completed.returncode == 2 and "--algos: unknown ['nope']; allowed:" in completed.stderr


def test_hyperparameter_overrides_reach_the_model_and_name_the_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    constructed: list[dict] = []

    class Recording(SACMixture):
        def __init__(self, *args, **kwargs) -> None:
            constructed.append(kwargs)
            super().__init__(*args, **kwargs)

    build_with(monkeypatch, "sac_mrp", Recording)
    overrides = {"learning_rate": "1e-3", "batch_size": "16", "policy_kwargs": "dict(n_components=2)"}
    specs = grid(["sac_mrp"], [BANDIT], seeds=[0], budgets=[30], ent_coefs=[0.1], overrides=overrides)
    run_grid(specs, tmp_path, eval_freq=30, n_eval_episodes=1, workers=1, command="test", progress_bar=False)
    kwargs = constructed[0]
    assert kwargs["learning_rate"](1.0) == 0.001 and kwargs["batch_size"] == 16 and kwargs["ent_coef"] == 0.1
    assert kwargs["policy_kwargs"]["n_components"] == 2
    assert kwargs["estimator"] == "mrp"  # the YAML's other entries stay
    variant = "ent_coef=0.1,batch_size=16,learning_rate=1e-3,policy_kwargs=dict(n_components=2)"
    assert specs[0].path(tmp_path) == tmp_path / "sac_mrp" / "sb3_mixture__BimodalBandit-v0" / variant / "seed0_budget30.json"
    assert specs[0].path(tmp_path).is_file()


def test_an_arm_has_hyperparameters_of_its_own_and_its_own_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``key[name=value,...]`` is another algorithm in the same task: its values reach its model only."""
    from sb3_mixture.experiments.results import group_by_task, load_results

    constructed: list[tuple[str, dict]] = []

    def recording(key: str) -> type:
        class Recording(SACMixture):
            def __init__(self, *args, **kwargs) -> None:
                constructed.append((key, kwargs))
                super().__init__(*args, **kwargs)

        return Recording

    build_with(monkeypatch, "sac_mrp", recording("sac_mrp"))
    arm = "sac_mrp[batch_size=16,policy_kwargs=dict(n_components=2, net_arch=[8, 8])]"
    specs = grid(["sac_mrp", arm], [BANDIT], seeds=[0], budgets=[30])
    run_grid(specs, tmp_path, eval_freq=30, n_eval_episodes=1, workers=1, command="test", progress_bar=False)
    (_, plain), (_, armed) = constructed
    assert plain.get("batch_size") != 16 and armed["batch_size"] == 16
    assert armed["policy_kwargs"] == dict(n_components=2, net_arch=[8, 8])
    assert specs[1].path(tmp_path).parts[-4] == arm
    (task,) = group_by_task(load_results(tmp_path)).values()
    assert sorted(task) == sorted(["sac_mrp", arm])


@pytest.mark.parametrize("text", ["sac[]", "sac[batch_size]", "sac[=3]", "sac[batch_size=16"])
def test_malformed_arms_are_refused(text: str) -> None:
    from sb3_mixture.experiments.specs import parse_arm

    with pytest.raises(ValueError, match="an arm is key"):
        parse_arm(text)


def test_recorded_commands_paste_into_a_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run file records its command quoted, so an arm holding a space or brackets stays one argument; the reports
    print older, space-joined records with each arm whole again."""
    import json

    from sb3_mixture.experiments.provenance import shell_command

    arm = "sac_mrp[policy_kwargs=dict(n_components=2, net_arch=[8, 8])]"
    argv = ["run", "--algos", arm, "--envs", BANDIT, "--seeds", "0", "--budgets", "30"]
    monkeypatch.setattr(sys, "argv", ["__main__.py", *argv])
    (spec,) = grid([arm], [BANDIT], seeds=[0], budgets=[30])
    run_grid([spec], tmp_path, eval_freq=30, n_eval_episodes=1, workers=1, progress_bar=False)
    recorded = json.loads(spec.path(tmp_path).read_text())["command"]
    assert shlex.split(recorded) == ["python", "-m", "sb3_mixture.experiments", *argv]
    assert shell_command(recorded) == recorded
    legacy = " ".join(["python -m sb3_mixture.experiments", *argv])
    assert shell_command(legacy) == recorded
    quoted_bracket = shlex.join(["python", "-m", "sb3_mixture.experiments", "run", "--hyperparams", "note:(a"])
    assert shell_command(quoted_bracket) == quoted_bracket
    with pytest.raises(ValueError, match="unbalanced brackets"):
        shell_command("python -m sb3_mixture.experiments run --algos sac[batch_size=16")


def test_result_files_hold_the_stochastic_evaluation_and_the_training_episodes(runs: Path) -> None:
    import json

    result = json.loads((runs / "sac_mrp" / "sb3_mixture__BimodalBandit-v0" / "default" / "seed0_budget120.json").read_text())
    assert len(result["stochastic_returns"]) == len(result["returns"])
    assert result["final_stochastic_return"] == result["stochastic_returns"][-1]
    online = result["online"]
    # The bandit's episodes last one step: every training step ends one, with the Monitor's reward in [0, 1].
    assert online["timesteps"] == list(range(1, 121)) and online["lengths"] == [1] * 120
    assert all(0.0 <= value <= 1.0 for value in online["returns"])
    # The bandit reports is_success (a peak reached) on its one step: each episode's flag is that step's.
    assert all(isinstance(flag, bool) for flag in online["reached_goal"]) and len(online["reached_goal"]) == 120


@pytest.mark.parametrize("argument", ["learning_rate", "learning_rate:", "ent_coef:0.1"])
def test_cli_refuses_malformed_overrides(argument: str) -> None:
    command = [sys.executable, "-m", "sb3_mixture.experiments", "run", "--algos", "sac", "--envs", BANDIT, "--budgets", "10"]
    completed = subprocess.run([*command, "--hyperparams", argument], capture_output=True, text=True, check=False)
    assert completed.returncode == 2 and "--hyperparams" in completed.stderr


def test_a_conf_dir_is_another_hyperparameter_set_and_names_the_variant(tmp_path: Path) -> None:
    import yaml

    from sb3_mixture.experiments.building import hyperparameters
    from sb3_mixture.experiments.specs import RunSpec

    conf_dir = str(Path(__file__).resolve().parent.parent / "sb3_mixture" / "hyperparams" / "pmoe_paper")
    entry = yaml.safe_load((Path(conf_dir) / "ppo_pmoe.yml").read_text())["HalfCheetah-v5"]
    assert hyperparameters("ppo_pmoe", "HalfCheetah-v5", conf_dir) == entry
    assert hyperparameters("ppo_pmoe", "HalfCheetah-v5") != entry
    spec = RunSpec("ppo_pmoe", "HalfCheetah-v5", 0, 100, conf_dir=conf_dir)
    assert (
        spec.path(tmp_path).parent.name == "conf=pmoe_paper"
        and grid(["ppo"], ["Hopper-v5"], [0], [9], conf_dir=conf_dir)[0].conf_dir == conf_dir
    )
    with pytest.raises(FileNotFoundError, match=r"no sac\.yml for algorithm 'sac'"):
        hyperparameters("sac", "Pendulum-v1", conf_dir)


def test_sb3_keys_on_v5_use_rl_zoo_v4_entries_like_the_package_keys() -> None:
    """RL Zoo has no v5 entries: without the fallback SB3's SAC would start learning at step 100, the mixture at 10000."""
    from sb3_mixture.experiments.building import hyperparameters

    assert hyperparameters("sac", "HalfCheetah-v5") == hyperparameters("sac", "HalfCheetah-v4")
    assert hyperparameters("sac", "HalfCheetah-v5")["learning_starts"] == 10000
    assert hyperparameters("sac_mrp", "HalfCheetah-v5")["learning_starts"] == 10000
    assert hyperparameters("ppo", "Hopper-v5")["normalize"] is True
    assert hyperparameters("sac", "Pendulum-v1")["learning_rate"] == 1e-3  # an exact entry wins


def test_evaluation_acts_on_the_training_normalisation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With RL Zoo's ``normalize``, evaluation feeds the policy observations normalised by the training statistics."""

    raw_observations: list[np.ndarray] = []

    class Recording(PPOMixture):
        def predict(self, observation, *args, **kwargs):  # type: ignore[no-untyped-def]
            vec_normalize = self.get_vec_normalize_env()
            assert vec_normalize is not None
            statistics = vec_normalize.obs_rms
            raw_observations.append(observation * np.sqrt(statistics.var + vec_normalize.epsilon) + statistics.mean)
            return super().predict(observation, *args, **kwargs)

    build_with(monkeypatch, "ppo_mixture", Recording)
    overrides = {"normalize": "dict(norm_obs=True, norm_reward=True)", "n_steps": "64", "batch_size": "32", "n_epochs": "1"}
    specs = grid(["ppo_mixture"], ["Pendulum-v1"], seeds=[0], budgets=[128], overrides=overrides)
    run_grid(specs, tmp_path, eval_freq=128, n_eval_episodes=1, workers=1, command="test", progress_bar=False)
    # Undoing the training normalisation must give Pendulum's raw observations, (cos, sin, velocity): on the unit circle.
    raw = np.concatenate(raw_observations)
    assert len(raw) >= 200  # one deterministic episode of 200 steps per evaluation
    np.testing.assert_allclose(raw[:, 0] ** 2 + raw[:, 1] ** 2, 1.0, atol=1e-4)
    assert specs[0].path(tmp_path).is_file()


def test_performance_profile_compares_the_tasks_every_algorithm_ran() -> None:
    """Task B lacks sac_mrp, and sac_mrp has 2 runs on A: the profile uses A alone, 2 runs each, normalised over A's
    5 runs (min 0, max 4). (It once took the run count of the first algorithm and padded missing tasks with NaN.)"""
    from sb3_mixture.experiments.figures import profile_matrices

    tasks = {
        "A": {"sac": np.array([[0.0], [1.0], [2.0]]), "sac_mrp": np.array([[3.0], [4.0]])},
        "B": {"sac": np.array([[5.0], [6.0]])},
    }
    profile_input = profile_matrices(tasks)
    assert profile_input is not None
    matrices, n_tasks = profile_input
    assert n_tasks == 1
    np.testing.assert_allclose(matrices["sac"], [[0.0], [0.25]])
    np.testing.assert_allclose(matrices["sac_mrp"], [[0.75], [1.0]])
    assert profile_matrices({"A": {"sac": np.zeros((2, 1))}, "B": {"sac_mrp": np.zeros((2, 1))}}) is None


def test_areas_failed_runs_and_best_sweep_setting(tmp_path: Path) -> None:
    """The online area is the step-weighted mean of the episodes' returns; a run that never reached the goal online nor
    in evaluation counts as failed; the sweep keeps the setting with the largest mean online area."""
    import json

    from sb3_mixture.experiments.auc import best_settings, never_reached, online_auc, reached_goal, write_sweep_report

    def run(seed: int, ent_coef: float, returns: list[float], lengths: list[int], reached: list[bool], success: float):
        return {
            "algo": "sac_mrp", "env_id": "task", "seed": seed, "budget": sum(lengths), "ent_coef": ent_coef,
            "variant": f"ent_coef={ent_coef:g}", "command": "test", "returns": [returns[-1]], "success_rate": [success],
            "online": {"timesteps": list(np.cumsum(lengths)), "returns": returns, "lengths": lengths, "reached_goal": reached},
        }  # fmt: skip

    failed = run(0, 0.1, [-1000.0, -1000.0], [1000, 1000], [False, False], 0.0)
    learned = run(1, 0.1, [-1000.0, -200.0, -100.0], [1000, 200, 100], [False, True, True], 1.0)
    assert online_auc(failed) == -1000.0
    assert online_auc(learned) == pytest.approx((1000 * -1000 + 200 * -200 + 100 * -100) / 1300)
    assert reached_goal(failed) is False and reached_goal(learned) is True
    assert never_reached([failed, learned]) == "1/2"
    better = [run(seed, 1.0, [-150.0], [150], [True], 1.0) for seed in (0, 1)]
    for index, result in enumerate([failed, learned, *better]):
        (tmp_path / f"run{index}.json").write_text(json.dumps(result, default=int))
    results = [failed, learned, *better]
    assert best_settings(results) == {("task", "sac_mrp"): ("ent_coef=1", -150.0)}
    markdown = write_sweep_report(tmp_path, tmp_path / "sweep.md", "test sweep")
    assert "| task | sac_mrp | ent_coef=1 | 2 | -150.0 | -150.0, -150.0 | **best** |" in markdown
    assert (tmp_path / "sweep_task_alpha.png").read_bytes().startswith(PNG_SIGNATURE)


def test_unflagged_cartpole_swingup_sparse_runs_reached_the_goal_if_an_episode_scored() -> None:
    """Run files made before DeepMind Control's rewarded steps were flagged: on cartpole-swingup_sparse a positive return
    is a step at the goal, in training or in an evaluation; a dense task keeps "-" (its returns are positive anyway)."""
    from sb3_mixture.experiments.auc import never_reached, reached_goal
    from sb3_mixture.experiments.report import _runs_that_succeeded

    def run(env_id: str, online: list[float], evaluations: list[float]) -> dict[str, Any]:
        lengths = [1000] * len(online)
        return {
            "env_id": env_id, "returns": evaluations, "success_rate": [None] * len(evaluations),
            "online": {"timesteps": list(np.cumsum(lengths)), "returns": online, "lengths": lengths,
                       "reached_goal": [None] * len(online)},
        }  # fmt: skip

    sparse = "dm_control/cartpole-swingup_sparse-v0"
    never, in_training, in_evaluation = run(sparse, [0, 0], [0]), run(sparse, [0, 3.0], [0]), run(sparse, [0, 0], [0.6])
    assert [reached_goal(result) for result in (never, in_training, in_evaluation)] == [False, True, True]
    assert never_reached([never, in_training, in_evaluation]) == "1/3"
    assert _runs_that_succeeded([never, in_training, in_evaluation]) == "1/3"
    dense = run("dm_control/cartpole-swingup-v0", [120.0, 300.0], [500.0])
    assert reached_goal(dense) is None and never_reached([dense]) == "-" and _runs_that_succeeded([dense]) == "-"


@pytest.mark.parametrize("task", ["dm_control/cartpole-swingup-v0", *sorted(REWARD_GOAL_TASKS)])
def test_the_reward_goal_tasks_reward_zero_or_one(task: str) -> None:
    """What a rewarded step means on the listed tasks holds: each step's reward is 0 or 1 under random actions, and on
    the tasks whose unflagged runs are read by their returns no episode's first step is rewarded (it starts outside the
    goal region); the dense twin gives other rewards."""
    import shimmy  # noqa: F401  (registers the dm_control/ ids)

    env = gymnasium.make(task)
    env.action_space.seed(0)
    first_rewards = set()
    for seed in range(50):
        env.reset(seed=seed)
        first_rewards.add(float(env.step(np.zeros(env.action_space.shape, dtype=env.action_space.dtype))[1]))
    rewards = {float(env.step(env.action_space.sample())[1]) for _ in range(300)}
    env.close()
    assert rewards <= {0.0, 1.0} if task in REWARD_GOAL_TASKS else not rewards <= {0.0, 1.0}, sorted(rewards)[:10]
    assert first_rewards == {0.0} or task not in GOAL_FROM_RETURN_TASKS


class _RewardGoalEnv(gymnasium.Env):
    """Six-step episodes rewarded 1 at the goal and 0 elsewhere, reporting no success: the first episode reaches the goal
    at its third step; the second begins there (its first step rewarded) and comes back at its fourth; the third never
    reaches it; then again."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
    rewarded_steps: tuple[set[int], ...] = ({3}, {1, 4}, set())

    def __init__(self, **_: Any) -> None:
        self.episode, self.steps = -1, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.episode, self.steps = self.episode + 1, 0
        return np.zeros(1, np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.steps += 1
        reward = float(self.steps in self.rewarded_steps[self.episode % 3])
        return np.zeros(1, np.float32), reward, False, self.steps == 6, {}


def test_on_a_reward_goal_task_an_episode_that_began_at_the_goal_tells_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On a task whose reward is 1 at the goal (DeepMind Control's sparse ones): a rewarded step reached the goal, but an
    episode whose first step is rewarded began there, and its flag is None; evaluations count the others only."""
    from sb3_mixture.experiments import recording
    from sb3_mixture.experiments.runner import execute

    env_id = "RewardGoal-v0"
    gymnasium.register(env_id, entry_point=_RewardGoalEnv)
    monkeypatch.setattr(recording, "REWARD_GOAL_TASKS", frozenset({env_id}))
    spec = RunSpec("sac_mrp", env_id, seed=0, budget=36, overrides=(("learning_starts", "100"),))
    result = execute(spec, tmp_path, eval_freq=18, n_eval_episodes=3, command="test")
    assert result["online"]["reached_goal"] == [True, None, False] * 2
    # Each evaluation's three episodes: reached, began at the goal (left out), never reached.
    assert result["success_rate"] == [0.5, 0.5]


def test_episode_goals_resume_mid_episode_and_read_a_former_checkpoint() -> None:
    """The state a checkpoint keeps resumes an episode mid-way with what it knew (here: it began at the goal); a
    checkpoint made before that state existed gives its flags, the episodes' first steps taken as past."""
    from sb3_mixture.experiments.recording import EpisodeGoals, _goal_state

    goals = EpisodeGoals(2, from_reward=True)
    goals.step(0, {}, 1.0)
    goals.step(1, {}, 0.0)
    resumed = EpisodeGoals(2, from_reward=True, state=goals.state())
    resumed.step(0, {}, 0.0)
    resumed.step(1, {}, 1.0)
    assert [resumed.finish(0), resumed.finish(1)] == [None, True]
    former = _goal_state({"episode_reached_goal": [True, False]}, 2)
    assert former == {"reached": [True, False], "first_step": [False, False]}
    assert _goal_state({"episode_reached_goal": []}, 2) is None


def test_a_killed_run_resumes_from_its_last_evaluation(tmp_path: Path) -> None:
    """SIGKILL after the first checkpoint, then the same command again: the run completes from its last evaluation, its
    file has every evaluation once and records the resume, and its checkpoint is gone."""
    import json
    import signal
    import time

    out = tmp_path / "runs"
    command = [sys.executable, "-m", "sb3_mixture.experiments", "run", "--algos", "sac_mrp", "--envs", "Pendulum-v1"]
    command += ["--seeds", "0", "--budgets", "1500", "--eval-freq", "300", "--eval-episodes", "1", "--workers", "1"]
    command += ["--hyperparams", "learning_starts:100", "policy_kwargs:dict(net_arch=[16])", "--out", str(out)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    checkpoints: list[Path] = []
    while not checkpoints and time.monotonic() < deadline and first.poll() is None:
        checkpoints = [path for path in out.rglob("*.checkpoint") if (path / "records.json").is_file()]
        time.sleep(0.05)
    assert checkpoints and first.poll() is None, "the run finished (or failed) before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not list(out.rglob("seed0_budget1500.json"))
    subprocess.run(command, check=True, capture_output=True)
    (result_path,) = out.rglob("seed0_budget1500.json")
    result = json.loads(result_path.read_text())
    assert result["timesteps"] == [300, 600, 900, 1200, 1500]
    assert len(result["resumed_at"]) == 1 and result["resumed_at"][0] in (300, 600, 900, 1200)
    assert len(result["stochastic_returns"]) == 5 and not list(out.rglob("*.checkpoint*"))


class _Stopped(BaseException):
    """A process that stops right after a checkpoint (as SIGKILL would, without its cost in a test)."""


@pytest.mark.parametrize(
    ("algo", "env_id", "overrides"),
    [
        # the checkpoint (300) falls before learning_starts: random actions from the action space's generator
        ("sac_mrp", "Pendulum-v1", (("learning_starts", "700"), ("policy_kwargs", "dict(net_arch=[16])"))),
        ("ppo_mixture", "Hopper-v5", (("n_steps", "256"), ("batch_size", "64"))),  # VecNormalize, MuJoCo mid-episode
        ("sac_mrp", "dm_control/cartpole-swingup-v0", (("learning_starts", "100"), ("policy_kwargs", "dict(net_arch=[16])"))),
    ],
    ids=["sac_mrp-Pendulum", "ppo_mixture-Hopper", "sac_mrp-DMC"],
)
def test_a_resumed_run_equals_one_that_never_stopped(
    algo: str, env_id: str, overrides: tuple[tuple[str, str], ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped after its first checkpoint and run again writes the numbers of a run that never stopped: every
    evaluation, the sampled ones, the mixture statistics and each training episode (its environments resumed
    mid-episode, its random streams where they were)."""
    from sb3_mixture.experiments.checkpoint import Checkpoint
    from sb3_mixture.experiments.runner import execute

    spec = RunSpec(algo, env_id, seed=0, budget=1800, overrides=overrides)
    never_stopped = execute(spec, tmp_path / "whole", 300, 2, "test")
    saves: list[int] = []
    save = Checkpoint.save

    def save_then_stop(checkpoint: Checkpoint, model: Any, *arguments: Any) -> None:
        save(checkpoint, model, *arguments)
        saves.append(model.num_timesteps)
        if len(saves) == 1:
            raise _Stopped

    monkeypatch.setattr(Checkpoint, "save", save_then_stop)
    with pytest.raises(_Stopped):
        execute(spec, tmp_path / "stopped", 300, 2, "test")
    resumed = execute(spec, tmp_path / "stopped", 300, 2, "test")
    assert resumed["resumed_at"] == saves[:1] and resumed["resumed_exactly"] == [True]
    assert never_stopped["timesteps"][:6] == [300, 600, 900, 1200, 1500, 1800]  # PPO ends its last rollout: 2048
    for key in ("timesteps", "returns", "stochastic_returns", "mixture_statistics", "online", "final_return"):
        assert resumed[key] == never_stopped[key], key
    ends, lengths = resumed["online"]["timesteps"], resumed["online"]["lengths"]
    assert any(end - length < saves[0] < end for end, length in zip(ends, lengths, strict=True)), "no episode spans the stop"


def test_a_checkpoint_killed_between_its_renames_is_put_back(tmp_path: Path) -> None:
    from sb3_mixture.experiments.checkpoint import Checkpoint

    checkpoint = Checkpoint(tmp_path / "seed0_budget100.json")
    checkpoint.directory.mkdir()
    (checkpoint.directory / "records.json").write_text("{}")
    checkpoint.directory.rename(checkpoint.directory.with_name(f"{checkpoint.directory.name}.old123"))
    assert checkpoint.exists() and (checkpoint.directory / "records.json").read_text() == "{}"
    (tmp_path / f"{checkpoint.directory.name}.tmp456").mkdir()
    checkpoint.delete()
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_result_or_checkpoint_is_named(tmp_path: Path) -> None:
    from sb3_mixture.experiments.checkpoint import Checkpoint, CheckpointError

    specs = grid(["sac_mrp"], [BANDIT], seeds=[0], budgets=[20])
    path = specs[0].path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('{"algo": "sac_mrp", "env_id": "trunc')
    with pytest.raises(CheckpointError, match=str(path)):
        pending(specs, tmp_path)
    path.unlink()
    checkpoint = Checkpoint(path)
    checkpoint.directory.mkdir()
    (checkpoint.directory / "records.json").write_text("{}")
    with pytest.raises(CheckpointError, match=str(checkpoint.directory)):
        run_grid(specs, tmp_path, eval_freq=10, n_eval_episodes=1, workers=1, command="test", progress_bar=False)


def test_commands_recorded_under_the_former_module_name_run_under_the_present_one() -> None:
    """Run files made before the rename record ``python -m sb3_mixture.benchmark``, a module that no longer exists: the
    reports print such a command under the present name, and that line runs (here: to the runner's argument check)."""
    from sb3_mixture.experiments.provenance import shell_command

    recorded = f"python -m sb3_mixture.benchmark run --algos nope --envs {BANDIT} --budgets 10"
    printed = shell_command(recorded)
    assert printed == recorded.replace("sb3_mixture.benchmark", "sb3_mixture.experiments")
    completed = subprocess.run([sys.executable, *shlex.split(printed)[1:]], capture_output=True, text=True, check=False)
    assert completed.returncode == 2 and "--algos: unknown ['nope']" in completed.stderr
    former = subprocess.run([sys.executable, *shlex.split(recorded)[1:]], capture_output=True, text=True, check=False)
    assert "No module named sb3_mixture.benchmark" in former.stderr


def test_the_experiments_modules_import_only_those_before_them() -> None:
    """docs/guide/benchmark.rst: no import circle, at module level or inside a function."""
    import ast
    from pathlib import Path

    from sb3_mixture import experiments

    order = ["checkpoint", "specs", "provenance", "building", "maze", "recording", "runner", "ray_executor", "results"]
    order += ["statistics", "figures", "auc", "report"]
    folder = Path(experiments.__file__).parent
    assert set(order) == {path.stem for path in folder.glob("*.py")} - {"__init__", "__main__"}
    for position, name in enumerate(order):
        tree = ast.parse((folder / f"{name}.py").read_text())
        imported = {
            node.module.rsplit(".", 1)[1]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sb3_mixture.experiments.")
        }
        assert imported <= set(order[:position]), f"{name} imports {sorted(imported - set(order[:position]))}"


class _GoalOnceEnv(gymnasium.Env):
    """Six-step episodes that reach the goal at the third step only: the mazes' ``success`` key, or SB3's
    ``is_success`` (false again at the last step)."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, key: str = "success", **_: Any) -> None:
        self.key, self.steps = key, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.steps = 0
        return np.zeros(1, np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.steps += 1
        return np.zeros(1, np.float32), 0.0, False, self.steps == 6, {self.key: self.steps == 3}


@pytest.mark.parametrize("key", ["success", "is_success"])
def test_an_episode_reached_the_goal_if_any_step_did(key: str, tmp_path: Path) -> None:
    """A maze episode goes on after the goal, which the ball can leave: the evaluations' success rate and the training
    episodes' flags count an episode whose third step, not its last, reached the goal."""
    env_id = f"GoalOnce-{key}-v0"
    gymnasium.register(env_id, entry_point=_GoalOnceEnv, kwargs={"key": key})
    spec = RunSpec("sac_mrp", env_id, seed=0, budget=24, overrides=(("learning_starts", "100"),))
    from sb3_mixture.experiments.runner import execute

    result = execute(spec, tmp_path, eval_freq=12, n_eval_episodes=2, command="test")
    assert result["success_rate"] == [1.0, 1.0]
    assert result["online"]["reached_goal"] == [True] * 4


def test_cells_keeping_two_directions_counts_heavy_moving_components_far_apart() -> None:
    """A cell counts when two components of weight >= 0.1, each moving the ball, point >= 60 degrees apart."""
    from sb3_mixture.experiments.maze import cells_keeping_two_directions

    cells = [
        ([[1.0, 0.0], [0.0, 1.0]], [0.5, 0.5]),  # a turn at a junction: 90 degrees, counts
        ([[0.0, 0.5], [0.0, -0.5], [0.3, 0.0]], [0.1, 0.1, 0.8]),  # the two light ones are at the limit: counts
        ([[1.0, 0.0], [0.9, 0.1]], [0.5, 0.5]),  # 6 degrees apart: one direction
        ([[1.0, 0.0], [-1.0, 0.0]], [0.95, 0.05]),  # opposite, but the second weighs too little
        ([[1.0, 0.0], [-0.05, 0.0]], [0.5, 0.5]),  # the second barely moves the ball
        ([[0.6, 0.0], [0.3, 0.52]], [0.5, 0.5]),  # 60 degrees apart: counts
    ]
    snapshot = {"means": [means for means, _ in cells], "weights": [weights for _, weights in cells]}
    assert cells_keeping_two_directions(snapshot) == 3


def test_a_point_maze_run_records_its_mixture_on_the_maze_and_the_report_draws_it(tmp_path: Path) -> None:
    """The maze's cells from Gymnasium-Robotics' own U-maze map, the goal at its first free cell; each snapshot's
    heaviest component acts as ``predict(deterministic=True)`` does; a snapshot at the start and one at the end."""
    import json

    import gymnasium_robotics
    from gymnasium_robotics.envs.maze.maps import U_MAZE

    from sb3_mixture.experiments.maze import cells_keeping_two_directions, maze_layout, mixture_snapshot
    from sb3_mixture.experiments.runner import execute

    overrides = (("learning_starts", "310"), ("batch_size", "32"), ("policy_kwargs", "dict(net_arch=[32],n_components=3)"))
    spec = RunSpec("sac_mrp", "PointMaze_UMaze-v3", 0, 620, overrides=overrides, gym_packages=("gymnasium_robotics",))
    result = execute(spec, tmp_path / "runs", eval_freq=310, n_eval_episodes=1, command="test")
    assert all(rate in (0.0, 1.0) for rate in result["success_rate"])  # the mazes report ``success``, not ``is_success``
    assert all(isinstance(flag, bool) for flag in result["online"]["reached_goal"])

    maze = result["maze_mixture"]
    assert maze is not None
    height, width = len(U_MAZE), len(U_MAZE[0])
    free = [(row, column) for row in range(height) for column in range(width) if U_MAZE[row][column] != 1]
    centres = [[column + 0.5 - width / 2, height / 2 - row - 0.5] for row, column in free]  # scaling 1
    assert maze["goal"] == centres[0] and maze["positions"] == centres[1:] and maze["cell_size"] == 1.0
    assert [snapshot["timesteps"] for snapshot in maze["snapshots"]] == [0, 620]
    for snapshot in maze["snapshots"]:
        assert np.array(snapshot["means"]).shape == (len(free) - 1, 3, 2)
        np.testing.assert_allclose(np.sum(snapshot["weights"], axis=1), 1.0, atol=1e-3)

    gymnasium.register_envs(gymnasium_robotics)
    model = SACMixture("MultiInputPolicy", "PointMaze_UMaze-v3", policy_kwargs=dict(n_components=3), seed=1)
    env = model.get_env()
    assert env is not None
    layout = maze_layout(env)
    assert layout is not None
    snapshot = mixture_snapshot(model, env, layout)
    assert snapshot is not None
    positions = np.array(layout["positions"], dtype=np.float32)
    observations = {
        "observation": np.concatenate([positions, np.zeros_like(positions)], axis=1),
        "achieved_goal": positions,
        "desired_goal": np.repeat([layout["goal"]], len(positions), axis=0).astype(np.float32),
    }
    actions, _ = model.predict(observations, deterministic=True)
    heaviest = np.argmax(snapshot["weights"], axis=1)
    chosen = np.array(snapshot["means"])[np.arange(len(positions)), heaviest]
    np.testing.assert_allclose(chosen, actions, atol=1e-3)  # the snapshot rounds to 4 decimals
    assert len(set(map(tuple, np.round(actions, 2)))) > 1  # the check compares distinct actions

    (tmp_path / "runs" / "copy").mkdir()
    report = write_report(tmp_path / "runs", tmp_path / "report.md", reps=50)
    assert "![the mixture in the maze](report_PointMaze_UMaze-v3_" in report
    first, last = (cells_keeping_two_directions(snapshot) for snapshot in maze["snapshots"])
    assert f"| sac_mrp | 0 | {first} | {last} | 6 |" in report  # the U-maze's 6 free cells besides the goal
    image = next(tmp_path.glob("report_*_maze.png"))
    assert image.read_bytes().startswith(PNG_SIGNATURE)
    assert json.loads(next((tmp_path / "runs").rglob("*.json")).read_text())["maze_mixture"] == maze
