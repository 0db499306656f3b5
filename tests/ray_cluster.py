"""A two-node Ray cluster on 127.0.0.1 that loses a node mid-grid, for tests/test_ray.py.

Run inside a loopback-only network namespace (``unshare --net python -m tests.ray_cluster REPORT OUT -- <run arguments>``;
Ray binds every interface, and in the namespace there is only ``lo``): starts a head node and a worker node (``ray
start``, one CPU each), runs the grid's driver (``python -m sb3_mixture.experiments run ... --ray``) and interrupts it
as Ctrl-C does once a run has checkpointed, runs it again, SIGKILLs the worker node (its raylet and every process under
it) once a run it holds has checkpointed, waits for the driver, stops the cluster, and writes what happened to
``REPORT`` (JSON).
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEAD_PORT, WORKER_NODE_MANAGER_PORT = 6379, 6380
# Node death is noticed after a few missed health checks: 1.5 s here instead of Ray's default of about 15 s.
FAST_HEALTH_CHECKS = {
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def ray_command(*arguments: str) -> list[str]:
    return [str(Path(sys.executable).with_name("ray")), *arguments]


def ray_start(*arguments: str) -> None:
    environment = {**os.environ, **FAST_HEALTH_CHECKS}
    started = subprocess.run(ray_command("start", *arguments), env=environment, capture_output=True, text=True, check=False)
    if started.returncode != 0:
        raise RuntimeError(f"ray start {' '.join(arguments)} failed:\n{started.stdout}{started.stderr}")


def start_nodes(temp_dir: str) -> None:
    common = ["--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats"]
    ray_start(
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={HEAD_PORT}",
        "--include-dashboard=false",
        f"--temp-dir={temp_dir}",
        *common,
    )
    ray_start(f"--address=127.0.0.1:{HEAD_PORT}", f"--node-manager-port={WORKER_NODE_MANAGER_PORT}", *common)


def processes() -> dict[int, tuple[int, list[str]]]:
    """pid -> (parent pid, command line) of every process, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        table[int(entry.name)] = (int(stat[stat.rindex(")") + 2 :].split()[1]), cmdline)
    return table


def descendants(pid: int) -> set[int]:
    table, found = processes(), {pid}
    while True:
        more = {child for child, (parent, _) in table.items() if parent in found} - found
        if not more:
            return found
        found |= more


def worker_raylet() -> int:
    for pid, (_, cmdline) in processes().items():
        if f"--node_manager_port={WORKER_NODE_MANAGER_PORT}" in cmdline:
            return pid
    raise RuntimeError("the worker node's raylet is not running")


def run_held_by(raylet: int, out: Path) -> tuple[Path, list[int]] | None:
    """A run that a process of the worker node holds (its lease names the process) and that has checkpointed since it
    took the lease (it trained there): its result path and the evaluations its checkpoint holds."""
    pids = descendants(raylet)
    for lease in out.rglob("*.running"):
        saved = lease.with_suffix(".checkpoint") / "records.json"
        try:
            holder = json.loads(lease.read_text())["pid"]
            records = json.loads(saved.read_text())
            trained_here = saved.stat().st_mtime > lease.stat().st_mtime
        except (OSError, ValueError, KeyError):
            continue
        if holder in pids and trained_here:
            return lease.with_suffix(".json"), records["curve"]["timesteps"]
    return None


def kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop_cluster(temp_dir: str) -> None:
    """SIGKILL this cluster's processes only (``ray stop`` would stop every Ray instance of the machine)."""
    kill({pid for pid, (_, cmdline) in processes().items() if any(temp_dir in part for part in cmdline)})


def checkpointed_runs(out: Path) -> list[Path]:
    return [path for path in out.rglob("*.checkpoint") if (path / "records.json").is_file()]


def main(out: Path, run_arguments: list[str]) -> dict[str, Any]:
    """Two drivers of the same grid: the first is interrupted (SIGINT, as Ctrl-C) once a run has checkpointed; the
    second resumes the grid and loses the worker node while that node holds a checkpointed run."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # Explicit, for the nodes and the drivers alike: left unset, Ray 2.60's ``ray start --head`` turns token
    # authentication on when ~/.ray/auth_token exists (any local ``ray.init()`` writes one) and ``ray start --address``
    # does not, so the worker node cannot join. Nothing outside this namespace can reach the cluster.
    os.environ["RAY_AUTH_MODE"] = "disabled"
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    report: dict[str, Any] = {}
    command = [sys.executable, "-m", "sb3_mixture.experiments", "run", *run_arguments, "--out", str(out)]
    command += ["--ray", f"127.0.0.1:{HEAD_PORT}"]
    try:
        started = time.monotonic()
        start_nodes(temp_dir)
        report["cluster_start_seconds"] = time.monotonic() - started

        driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline, seen = time.monotonic() + 300, []
        while driver.poll() is None and time.monotonic() < deadline and not (seen := checkpointed_runs(out)):
            time.sleep(0.02)
        # Why the Ctrl-C came (a checkpoint seen, the driver gone, or the deadline), for a failing test's message.
        report["cancel"] = {
            "checkpoints_seen": [str(path) for path in seen],
            "driver_running": driver.poll() is None,
            "after_seconds": time.monotonic() - started,
        }
        driver.send_signal(signal.SIGINT)
        output, _ = driver.communicate(timeout=120)
        report["cancelled_returncode"], report["cancelled_output"] = driver.returncode, output
        report["checkpoints_after_cancel"] = [str(path) for path in checkpointed_runs(out)]

        driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        raylet = worker_raylet()
        deadline = time.monotonic() + 300
        while driver.poll() is None and time.monotonic() < deadline and "killed_run" not in report:
            held = run_held_by(raylet, out)
            if held is not None:
                # The raylet and everything under it (the run's worker process, the node's agents): a lost machine.
                report["killed_pids"] = sorted(descendants(raylet))
                kill(set(report["killed_pids"]))
                report["killed_run"], report["checkpointed_evaluations"] = str(held[0]), held[1]
                report["killed_after_seconds"] = time.monotonic() - started
            time.sleep(0.02)
        output, _ = driver.communicate(timeout=600)
        report["driver_returncode"], report["driver_output"] = driver.returncode, output
        report["grid_seconds"] = time.monotonic() - started
    finally:
        stop_cluster(temp_dir)
    return report


if __name__ == "__main__":
    # SIGTERM (the test's timeout) unwinds through main's finally, which stops the cluster.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated: the cluster is stopped"))
    separator = sys.argv.index("--")
    report_path, out_folder = Path(sys.argv[1]), Path(sys.argv[2])
    report_path.write_text(json.dumps(main(out_folder, sys.argv[separator + 1 :]), indent=1))
