"""RL Zoo's own commands, run exactly as a user types them, in fresh interpreters."""

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.postgres import postgres_bin_dir, postgres_server

REPO = Path(__file__).resolve().parent.parent
FAST_TRAIN = ["--env", "Pendulum-v1", "-n", "300", "--eval-freq", "-1", "--seed", "0"]
OPTIMIZE = ["--env", "Pendulum-v1", "-optimize", "--n-evaluations", "1", "--eval-episodes", "1", "--sampler", "random"]
OPTIMIZE += ["--pruner", "none", "--seed", "0"]


def run(command: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONWARNINGS": "ignore", **env}
    return subprocess.run(command, check=False, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)


def check(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(result.args)} failed:\n{output[-4000:]}"
    return output


def test_interpreter_start_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys; assert 'torch' not in sys.modules; assert any(type(f).__name__ == 'RlZooFinder' for f in sys.meta_path)"
    )
    check(run([sys.executable, "-c", code], tmp_path))


def test_opt_out_disables_the_registration(tmp_path: Path) -> None:
    code = "import sys; assert not any(type(f).__name__ == 'RlZooFinder' for f in sys.meta_path)"
    check(run([sys.executable, "-c", code], tmp_path, SB3_MIXTURE_NO_ZOO_HOOK="1"))
    result = run(
        [sys.executable, "-m", "rl_zoo3.train", "--algo", "sac_mrp", *FAST_TRAIN], tmp_path, SB3_MIXTURE_NO_ZOO_HOOK="1"
    )
    assert result.returncode == 2 and "invalid choice: 'sac_mrp'" in result.stderr
    # The explicit fallback works without the hook.
    check(run([sys.executable, "-m", "sb3_mixture.train", "--algo", "sac_mrp", *FAST_TRAIN, "-f", "logs"], tmp_path))


def test_train_then_enjoy(tmp_path: Path) -> None:
    output = check(run([sys.executable, "-m", "rl_zoo3.train", "--algo", "sac_mrp", *FAST_TRAIN, "-f", "logs"], tmp_path))
    assert f"Loading hyperparameters from: {REPO / 'sb3_mixture' / 'hyperparams' / 'sac_mixture.yml'}" in output
    run_dir = tmp_path / "logs" / "sac_mrp" / "Pendulum-v1_1"
    assert (run_dir / "Pendulum-v1.zip").is_file()
    config = yaml.unsafe_load((run_dir / "Pendulum-v1" / "config.yml").read_text())
    assert dict(config)["estimator"] == "mrp"
    enjoy = [sys.executable, "-m", "rl_zoo3.enjoy", "--algo", "sac_mrp", "--env", "Pendulum-v1", "-f", "logs"]
    output = check(run([*enjoy, "--no-render", "-n", "200"], tmp_path))
    assert "Mean reward" in output or "Episode Reward" in output


@pytest.mark.parametrize("algo", ["ppo", "ppo_pmoe"])
def test_the_pmoe_papers_settings_train_with_rl_zoos_conf_file(algo: str, tmp_path: Path) -> None:
    """The second hyperparameter set (MlpTrunk named in a YAML string, which RL Zoo evaluates in its own module) trains
    SB3's PPO and PMOE-PPO with the paper's shared 64-64 trunk."""
    conf = REPO / "sb3_mixture" / "hyperparams" / "pmoe_paper" / f"{algo}.yml"
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", "Hopper-v5", "-n", "128", "--eval-freq", "-1"]
    command += ["--conf-file", str(conf), "-f", "logs", "--hyperparams", "n_steps:64", "batch_size:32", "n_epochs:1"]
    check(run(command, tmp_path))
    from sb3_mixture.experiments.building import algorithm_classes

    model = algorithm_classes()[algo].load(tmp_path / "logs" / algo / "Hopper-v5_1" / "Hopper-v5.zip")
    assert type(model.policy.features_extractor).__name__ == "MlpTrunk" and model.policy.share_features_extractor
    assert model.policy.value_net.in_features == model.policy.action_net.in_features == 64
    assert (model.lr_schedule(1.0), model.n_epochs, model.gamma, model.gae_lambda) == (3e-4, 1, 0.99, 0.95)
    if algo == "ppo_pmoe":
        assert model.policy.n_components == 12  # the paper's K for Hopper


def test_rl_zoo3_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "rl_zoo3"
    check(run([str(script), "train", "--algo", "sac_mrp", *FAST_TRAIN, "-f", "logs"], tmp_path))
    assert (tmp_path / "logs" / "sac_mrp" / "Pendulum-v1_1" / "Pendulum-v1.zip").is_file()


def test_missing_hyperparameters_give_rl_zoos_error(tmp_path: Path) -> None:
    (tmp_path / "only_pendulum.yml").write_text("Pendulum-v1:\n  policy: MlpPolicy\n")
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "sac_mrp", "--env", "MountainCarContinuous-v0"]
    result = run([*command, "--conf-file", "only_pendulum.yml", "-n", "10"], tmp_path)
    assert result.returncode != 0
    assert "Hyperparameters not found for sac_mrp-MountainCarContinuous-v0" in result.stderr
    assert "_sb3_mixture_zoo_hook" not in result.stderr and "sb3_mixture/zoo" not in result.stderr


def test_optimize_then_reload_a_trial(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "sac_mrp", *OPTIMIZE, "--storage", storage]
    output = check(
        run([*command, "--study-name", "local", "--n-trials", "2", "--n-timesteps", "1000", "-f", "logs"], tmp_path)
    )
    assert "Number of finished trials:  2" in output and "n_components" in output

    import optuna

    trial = optuna.load_study(study_name="local", storage=storage).trials[1]
    reload = [sys.executable, "-m", "rl_zoo3.train", "--algo", "sac_mrp", *FAST_TRAIN, "-f", "reloaded"]
    check(run([*reload, "--storage", storage, "--study-name", "local", "--trial-id", "1"], tmp_path))
    config = dict(yaml.unsafe_load((tmp_path / "reloaded/sac_mrp/Pendulum-v1_1/Pendulum-v1/config.yml").read_text()))
    assert config["policy_kwargs"]["n_components"] == trial.params["n_components"]
    assert config["learning_rate"] == pytest.approx(trial.params["learning_rate"])


@pytest.mark.skipif(postgres_bin_dir() is None and not os.environ.get("CI"), reason="needs Debian's postgresql")
def test_distributed_optimization_on_postgresql(tmp_path: Path) -> None:
    """Two workers share one study through a PostgreSQL server; both contribute trials."""
    import optuna

    with postgres_server() as storage:
        # Create the study (and Optuna's tables) once, as the README says: two workers initialising the schema
        # of an empty database at the same moment collide on PostgreSQL's CREATE TYPE.
        optuna.create_study(storage=storage, study_name="shared", direction="maximize")
        command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "sac_mrp", *OPTIMIZE, "--storage", storage]
        command += ["--study-name", "shared", "--n-trials", "2", "--n-timesteps", "500"]
        environment = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
        workers = [
            subprocess.Popen(
                [*command, "-f", f"worker{i}"],
                cwd=tmp_path,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for i in range(2)
        ]
        outputs = [worker.communicate(timeout=900)[0] for worker in workers]
        for worker, output in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, output[-4000:]
            assert "Number of finished trials" in output
        study = optuna.load_study(study_name="shared", storage=storage)
        finished = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
        assert len(finished) == 4  # 2 per worker: both wrote to the shared study
        assert all("n_components" in trial.params for trial in finished)


def test_wheel_ships_the_hook_and_the_hyperparameters(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", str(REPO), "-w", str(tmp_path)]
    check(run(build, tmp_path))
    (wheel,) = tmp_path.glob("sb3_mixture-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"sb3_mixture_zoo.pth", "_sb3_mixture_zoo_hook.py", "sb3_mixture/hyperparams/sac_mixture.yml"} <= names
    assert "sb3_mixture/hyperparams/pmoe_paper/ppo_pmoe.yml" in names
    assert zipfile.ZipFile(wheel).read("sb3_mixture_zoo.pth").decode().strip() == "import _sb3_mixture_zoo_hook"
    # Installed into a fresh virtual environment, the hook registers the keys. That environment reuses the packages of
    # the interpreter running the tests through a path file: `venv --system-site-packages` would reuse the *base*
    # interpreter's, which inside a virtual environment are not the ones holding torch and RL Zoo.
    venv = tmp_path / "venv"
    check(run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path))
    python = venv / "bin" / "python"
    (venv_site,) = (venv / "lib").glob("python*/site-packages")
    (venv_site / "reuse_test_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(venv_site), str(wheel)]
    check(run(install, tmp_path))
    code = (
        "import sys, sb3_mixture, rl_zoo3.utils as u; assert 'sac_mrp' in u.ALGOS;"
        f"assert sb3_mixture.__file__.startswith({str(venv)!r}), sb3_mixture.__file__"
    )
    check(run([str(python), "-c", code], tmp_path))


def test_editable_install_keeps_the_hook() -> None:
    """The test environment itself is an editable install (README): the hook and its .pth are in site-packages."""
    site_packages = [Path(path) for path in site.getsitepackages()]
    assert any((path / "sb3_mixture_zoo.pth").is_file() for path in site_packages)
    assert any((path / "_sb3_mixture_zoo_hook.py").is_file() for path in site_packages)


def test_sac_mixture_keys_share_one_hyperparameter_file() -> None:
    """The SACMixture keys differ only in the estimator, which the key sets: one file, without an estimator entry."""
    from sb3_mixture.zoo import config_path, sac_estimator_keys, samplers

    paths = {config_path(key) for key in sac_estimator_keys()}
    assert paths == {config_path("sac_mrp")} and paths != {config_path("sacm")}
    assert all("estimator" not in entry for entry in yaml.safe_load(Path(config_path("sac_mrp")).read_text()).values())
    assert set(sac_estimator_keys()) <= set(samplers())


def test_registry_is_built_from_the_classes_and_estimators() -> None:
    """Every algorithm in sb3_mixture.ALGORITHMS has its key(s), every key a YAML file; nothing else is registered."""
    from sb3_mixture import ALGORITHMS, ESTIMATORS, SACMixture
    from sb3_mixture.zoo import config_path, zoo_entries

    expected: set[str | None] = {estimator.zoo_key for estimator in ESTIMATORS.values()}
    expected |= {algorithm.zoo_key for algorithm in ALGORITHMS if algorithm is not SACMixture}
    assert set(zoo_entries()) == expected and len(expected) == 14
    for key, entry in zoo_entries().items():
        assert entry.algorithm in ALGORITHMS and Path(config_path(key)).is_file()
        assert (entry.estimator is not None) == (entry.algorithm is SACMixture)


def test_every_key_samples_and_converts_consistently() -> None:
    """The sampler's output equals the converter applied to the trial's raw parameters (what --trial-id does)."""
    import optuna

    from sb3_mixture.zoo import converters, samplers

    for key, sampler in samplers().items():
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        trial = study.ask()
        sampled = sampler(trial, 1, 1, {"using_her_replay_buffer": False})
        assert converters()[key](trial.params) == sampled
        assert sampled["policy_kwargs"]["n_components"] in (2, 3, 5, 8)
        assert ("estimator_kwargs" in sampled) == (key == "sac_gumbelrp")
        assert ("information_coef" in sampled and "ent_coef" in sampled) == (key == "sac_awmp")
        assert ("n_quantiles" in sampled["policy_kwargs"] and "top_quantiles_to_drop_per_net" in sampled) == (key == "tqc_mrp")
        assert ("policy_delay" in sampled and "tau" not in sampled) == (key == "crossq_mrp")


def test_every_off_policy_key_builds_from_a_sampled_trial() -> None:
    """A trial's hyperparameters are ones the algorithm accepts (CrossQ has no tau: its space has none)."""
    import optuna

    from sb3_mixture.zoo import samplers, zoo_entries

    for key, entry in zoo_entries().items():
        if entry.on_policy:
            continue
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
        sampled = samplers()[key](trial, 1, 1, {"using_her_replay_buffer": False})
        kwargs: dict[str, Any] = {"buffer_size": 1_000, **({"estimator": entry.estimator} if entry.estimator else {})}
        entry.algorithm("MlpPolicy", "Pendulum-v1", **kwargs, **sampled)


@pytest.mark.parametrize("key", ["sac_halfrp", "sac_gumbelrp", "sac_lr", "sac_usgm"])
def test_estimator_keys_train_with_their_estimator(key: str, tmp_path: Path) -> None:
    from sb3_mixture.zoo import sac_estimator_keys

    # A user file that says nothing of the estimator: the key decides it.
    entry = {"n_timesteps": 150, "policy": "MlpPolicy", "policy_kwargs": "dict(net_arch=[32], n_components=2)"}
    (tmp_path / "mine.yml").write_text(yaml.safe_dump({"Pendulum-v1": entry}))
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", key, *FAST_TRAIN, "-f", "logs", "--conf-file", "mine.yml"]
    check(run([*command, "-n", "150"], tmp_path))
    config = dict(yaml.unsafe_load((tmp_path / "logs" / key / "Pendulum-v1_1" / "Pendulum-v1" / "config.yml").read_text()))
    assert config["estimator"] == sac_estimator_keys()[key]


@pytest.mark.parametrize(
    "key", ["sacm", "s2acm", "sac_pmoe", "sac_gmm", "sac_awmp", "ppo_mixture", "ppo_pmoe", "tqc_mrp", "crossq_mrp"]
)
def test_own_class_keys_train_from_the_package_yaml(key: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", key, *FAST_TRAIN, "-f", "logs", "-n", "150"]
    output = check(run(command, tmp_path))
    assert f"hyperparams/{dict(s2acm='sacm', ppo_pmoe='ppo_mixture').get(key, key)}.yml" in output
    assert (tmp_path / "logs" / key / "Pendulum-v1_1" / "Pendulum-v1.zip").is_file()


# One key per hyperparameter file of the package: each file's DMC entry or its default must take DMC's Dict observations.
ONE_KEY_PER_FILE = ["sac_mrp", "sacm", "sac_pmoe", "sac_gmm", "sac_awmp", "ppo_mixture", "tqc_mrp", "crossq_mrp"]


@pytest.mark.parametrize("key", ONE_KEY_PER_FILE)
def test_deepmind_control_trains_with_no_gym_packages(key: str, tmp_path: Path) -> None:
    env_id, folder = "dm_control/cartpole-swingup_sparse-v0", "dm_control-cartpole-swingup_sparse-v0"
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", key, "--env", env_id, "-n", "300", "--eval-freq", "-1"]
    on_policy = key.startswith("ppo")
    small = ["n_steps:64", "batch_size:32"] if on_policy else ["learning_starts:100", "batch_size:32"]
    check(run([*command, "--seed", "0", "-f", "logs", "--hyperparams", *small], tmp_path))
    run_dir = tmp_path / "logs" / key / f"{folder}_1"
    assert (run_dir / f"{folder}.zip").is_file()
    config = dict(yaml.unsafe_load((run_dir / folder / "config.yml").read_text()))
    # sac_mixture.yml has DMC entries (RL Zoo's flattening); the other files' defaults flatten any Dict observation.
    own_entry = "gymnasium.wrappers.FlattenObservation"
    assert config["env_wrapper"] == (own_entry if key == "sac_mrp" else "sb3_mixture.zoo.wrappers.flatten_dict_observations")
    if key == "sac_mrp":
        enjoy = [sys.executable, "-m", "rl_zoo3.enjoy", "--algo", key, "--env", env_id, "-f", "logs", "--no-render"]
        check(run([*enjoy, "-n", "50"], tmp_path))


@pytest.mark.parametrize(
    ("key", "env_id", "steps"), [("tqc_mrp", "PointMaze_UMaze-v3", 400), ("sac_mrp", "FetchReach-v4", 200)]
)
def test_goal_tasks_train_with_her_through_rl_zoo(key: str, env_id: str, steps: int, tmp_path: Path) -> None:
    """The package's goal-task entries, modelled on RL Zoo's: MultiInputPolicy and HER; learning_starts past one episode."""
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", key, "--env", env_id, "--gym-packages", "gymnasium_robotics"]
    small = ["learning_starts:310" if env_id.startswith("PointMaze") else "learning_starts:100", "batch_size:64"]
    command += ["-n", str(steps), "--eval-freq", "-1", "--seed", "0", "-f", "logs", "--hyperparams", *small]
    check(run(command, tmp_path))
    run_dir = tmp_path / "logs" / key / f"{env_id}_1"
    assert (run_dir / f"{env_id}.zip").is_file()
    config = dict(yaml.unsafe_load((run_dir / env_id / "config.yml").read_text()))
    assert config["policy"] == "MultiInputPolicy" and config["replay_buffer_class"] == "HerReplayBuffer"


def test_the_rl_zoo_internals_the_hook_patches_are_there() -> None:
    """The hook (sb3_mixture.zoo.patch_module) extends three RL Zoo tables and wraps ExperimentManager.__init__ by the
    names of two of its parameters: if an RL Zoo release renames any of them, this says which, before users meet a
    KeyError or an unknown --algo."""
    import inspect

    import rl_zoo3
    from rl_zoo3 import exp_manager, hyperparams_opt, utils

    version = f"rl_zoo3 {rl_zoo3.__version__} (the hook is tested against 2.x)"
    for module, table in (
        (utils, "ALGOS"),
        (hyperparams_opt, "HYPERPARAMS_SAMPLER"),
        (hyperparams_opt, "HYPERPARAMS_CONVERTER"),
    ):
        assert isinstance(getattr(module, table, None), dict), f"{version}: {module.__name__}.{table} is no longer a dict"
    parameters = inspect.signature(exp_manager.ExperimentManager.__init__).parameters
    for name in ("algo", "config"):
        assert name in parameters, f"{version}: ExperimentManager.__init__ has no parameter {name!r}"
    source = inspect.getsource(exp_manager.ExperimentManager)
    for attribute in ("self.config", "self.custom_hyperparams"):
        assert attribute in source, f"{version}: ExperimentManager no longer sets {attribute}"


def test_the_default_wrapper_flattens_only_dict_observations() -> None:
    import gymnasium as gym

    from sb3_mixture.zoo.wrappers import flatten_dict_observations
    from tests.envs import DictObsPendulum

    pendulum = gym.make("Pendulum-v1")
    assert flatten_dict_observations(pendulum) is pendulum
    flattened = flatten_dict_observations(DictObsPendulum())
    assert isinstance(flattened.observation_space, gym.spaces.Box)
    observation, _ = flattened.reset(seed=0)
    assert observation.shape == flattened.observation_space.shape == (gym.spaces.flatdim(DictObsPendulum().observation_space),)
