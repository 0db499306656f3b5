"""The runner on a Ray cluster (docs/guide/ray.rst): a two-node cluster on 127.0.0.1, in a loopback-only network
namespace (Ray binds every interface), loses a node mid-run and the grid still gives the local pool's run files."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sb3_mixture.experiments import grid, run_grid
from sb3_mixture.experiments.checkpoint import read_result

pytest.importorskip("ray")

SEEDS, BUDGET, EVAL_FREQ = [0, 1, 2], 3000, 500
HYPERPARAMS = ["learning_starts:100", "policy_kwargs:dict(net_arch=[16])"]
FAILING_ARM = "sac_mrp[policy_kwargs=dict(net_arch=[16], n_components=0)]"  # refused at construction (n_components < 1)
# What may differ between two executions of the same run: the clock, the command line and the resumes.
RUN_CIRCUMSTANCES = {"wall_time", "env_steps_per_second", "command", "machine", "resumed_at", "resumed_exactly"}


def loopback_namespace_available() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not loopback_namespace_available(), reason="needs unshare --net (root or user namespaces) and ip")
def test_a_grid_survives_ctrl_c_and_a_killed_node_and_equals_the_local_pool(tmp_path: Path) -> None:
    """Ctrl-C, then the same command, then a node SIGKILLed mid-run: every run completes once, with every evaluation
    once, and each run file equals the one the local pool writes; a run that raises is reported and not retried."""
    out, report_path = tmp_path / "ray_runs", tmp_path / "cluster.json"
    arguments = ["--algos", "sac_mrp", FAILING_ARM, "--envs", "Pendulum-v1", "--seeds", *map(str, SEEDS)]
    arguments += ["--budgets", str(BUDGET), "--eval-freq", str(EVAL_FREQ), "--eval-episodes", "1"]
    arguments += ["--hyperparams", *HYPERPARAMS]
    command = ["unshare", "--net", sys.executable, "-m", "tests.ray_cluster", str(report_path), str(out), "--", *arguments]
    cluster = subprocess.Popen(command, cwd=Path(__file__).parent.parent)
    try:
        assert cluster.wait(timeout=900) == 0
    finally:
        if cluster.poll() is None:  # SIGTERM: the script stops its cluster on the way out (SIGKILL would leave it running)
            cluster.terminate()
            cluster.wait(timeout=120)
    report = json.loads(report_path.read_text())

    # Ctrl-C: the driver stops, says the checkpoints are kept, and they are.
    assert report["cancelled_returncode"] != 0 and "checkpoints are kept" in report["cancelled_output"], report["cancel"]
    assert report["checkpoints_after_cancel"]
    # The second driver: the failing arm's runs are reported with their traceback, once each, and nothing else failed.
    output = report["driver_output"]
    assert report["driver_returncode"] != 0 and f"{len(SEEDS)} of {2 * len(SEEDS)} runs failed" in output
    failed_lines = [line for line in output.splitlines() if line.startswith("  failed ")]
    assert len(failed_lines) == len(SEEDS)
    assert all("n_components=0" in line and "1 attempt(s)" in line for line in failed_lines)
    assert output.count("ValueError: n_components must be an integer >= 1") == len(SEEDS)
    assert "killed_run" in report, f"no run of the worker node was caught mid-way: {output}"

    specs = grid(["sac_mrp"], ["Pendulum-v1"], SEEDS, [BUDGET], overrides=dict(item.split(":", 1) for item in HYPERPARAMS))
    evaluations = list(range(EVAL_FREQ, BUDGET + 1, EVAL_FREQ))
    killed = read_result(Path(report["killed_run"]))
    # It went on from its last checkpoint (the one seen before the kill, or a later one), environments mid-episode.
    assert killed["resumed_at"][-1] in evaluations[:-1] and killed["resumed_at"][-1] >= report["checkpointed_evaluations"][-1]
    assert all(killed["resumed_exactly"])
    assert not list(out.rglob("*.checkpoint*")) and not list(out.rglob("*.running"))

    local = tmp_path / "local_runs"
    run_grid(specs, local, EVAL_FREQ, 1, workers=1, command="local pool", progress_bar=False)
    for spec in specs:
        on_ray, on_pool = read_result(spec.path(out)), read_result(spec.path(local))
        assert on_ray["timesteps"] == evaluations and len(on_ray["returns"]) == len(evaluations)
        differing = {key for key in on_pool if on_pool[key] != on_ray[key]} - RUN_CIRCUMSTANCES
        assert not differing, f"{spec.path(out).name}: {sorted(differing)} differ from the local pool's"
