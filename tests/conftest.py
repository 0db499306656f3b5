"""Session-wide settings for the test suite."""

import os

import torch as th


def pytest_configure() -> None:
    # Under pytest-xdist (CI runs `-n auto` on 2 cores) each worker, and every interpreter a test starts, would otherwise
    # run as many OpenMP threads as there are cores: 2 workers plus their RL Zoo subprocesses oversubscribe the machine,
    # and OpenMP's spinning threads then slow a 45 s Optuna test past its 600 s timeout (seen in CI).
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        th.set_num_threads(1)
