"""The statistics of the reports, by rliable (Agarwal et al. 2021): IQM, probability of improvement and mean ratios with
stratified-bootstrap confidence intervals, under a fixed bootstrap seed so that a report reproduces. The IQM and the
probability of improvement are rliable's own, computed here without SciPy's per-call overhead (the same numbers)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from sb3_mixture.experiments.results import final_scores

BOOTSTRAP_SEED = 0


@dataclass
class Interval:
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@contextmanager
def seeded_global_numpy(seed: int) -> Iterator[np.random.RandomState]:
    """rliable 1.2 draws its bootstrap indices from NumPy's GLOBAL generator (``update_indices`` ignores its
    ``random_state``): seed that generator for the call, then restore it, so a report reproduces."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield np.random.RandomState(seed)
    finally:
        np.random.set_state(state)


@contextmanager
def without_arch_deprecation() -> Iterator[None]:
    """rliable hands arch a RandomState, which arch deprecates; the seeded stream is what makes a report reproduce."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
        yield


def interquartile_mean(scores: np.ndarray) -> float:
    """The mean of the middle half of all of ``scores``: rliable's ``aggregate_iqm``, which is
    ``scipy.stats.trim_mean(scores, 0.25, axis=None)``, to the bit (the same partition and mean) but without SciPy's
    per-call argument checks, which took most of a report's time: a bootstrap calls it once per sample and time point."""
    flat = np.ravel(scores)
    if not np.issubdtype(flat.dtype, np.floating):
        flat = flat.astype(np.float64)
    if flat.size == 0 or np.isnan(flat).any():
        return float("nan")
    cut = int(0.25 * flat.size)
    return float(np.mean(np.partition(flat, (cut, flat.size - cut - 1))[cut : flat.size - cut]))


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """rliable's ``probability_of_improvement`` to the bit: per task (column) the share of run pairs in which X beats Y,
    ties counted half (0.5 where both columns are equal), averaged over tasks. rliable takes each share from SciPy's
    Mann-Whitney U by ranks; counting the pairs gives the same half-integer, exactly, without SciPy's per-call checks."""
    shares = []
    for task in range(scores_x.shape[1]):
        x, y = (np.asarray(scores[:, task], dtype=np.float64) for scores in (scores_x, scores_y))
        if np.array_equal(x, y):
            shares.append(0.5)
        elif np.isnan(x).any() or np.isnan(y).any():
            shares.append(float("nan"))
        else:
            wins = (x[:, None] > y[None, :]).sum() + 0.5 * (x[:, None] == y[None, :]).sum()
            shares.append(wins / (len(x) * len(y)))
    return float(np.mean(shares))


def _interval(point: np.ndarray, interval: np.ndarray) -> Interval:
    """rliable's (point, [low, high]) for one scalar statistic."""
    low, high = np.ravel(interval)
    return Interval(float(np.ravel(point)[0]), float(low), float(high))


def iqm_intervals(scores: dict[str, np.ndarray], reps: int, seed: int = BOOTSTRAP_SEED) -> dict[str, Interval]:
    """IQM per algorithm with its 95% stratified-bootstrap CI (rliable)."""
    from rliable import library as rly

    with seeded_global_numpy(seed) as random_state:
        point, interval = rly.get_interval_estimates(
            scores, lambda x: np.array([interquartile_mean(x)]), reps=reps, random_state=random_state
        )
    return {algo: _interval(point[algo], interval[algo]) for algo in scores}


def _paired_intervals(
    scores: dict[str, np.ndarray], reference: str, statistic: Callable[..., Any], reps: int, seed: int
) -> dict[str, Interval]:
    """``statistic(algo's scores, reference's scores)`` with its 95% CI (rliable; each side's runs resampled
    independently), for every algorithm but the reference."""
    from rliable import library as rly

    pairs = {algo: [scores[algo], scores[reference]] for algo in scores if algo != reference}
    if not pairs:
        return {}
    with seeded_global_numpy(seed) as random_state:
        point, interval = rly.get_interval_estimates(pairs, statistic, reps=reps, random_state=random_state)
    return {algo: _interval(point[algo], interval[algo]) for algo in pairs}


def improvement_intervals(
    scores: dict[str, np.ndarray], reference: str, reps: int, seed: int = BOOTSTRAP_SEED
) -> dict[str, Interval]:
    """P(algo > reference) with its 95% CI (rliable), for every algorithm but the reference."""
    return _paired_intervals(scores, reference, probability_of_improvement, reps, seed)


def relative_mean_intervals(
    scores: dict[str, np.ndarray], reference: str, reps: int, seed: int = BOOTSTRAP_SEED
) -> dict[str, Interval]:
    """100 x mean(algo) / mean(reference) with its 95% CI, for every algorithm but the reference: the PMOE paper's
    "AUC as % of SAC / PPO" (its Tables 1-2). Empty unless every reference score is positive (a ratio of returns says
    nothing when the reference's can be <= 0)."""
    if reference not in scores or not (scores[reference] > 0).all():
        return {}
    return _paired_intervals(scores, reference, lambda x, y: 100 * np.mean(x) / np.mean(y), reps, seed)


def curve_intervals(curves: dict[str, np.ndarray], reps: int, seed: int = BOOTSTRAP_SEED) -> tuple[dict, dict]:
    """IQM at each evaluation point with its 95% CI band: ``(point [T], interval [2, T])`` per algorithm."""
    from rliable import library as rly

    def iqm_over_time(scores: np.ndarray) -> np.ndarray:
        return np.array([interquartile_mean(scores[..., t]) for t in range(scores.shape[-1])])

    with seeded_global_numpy(seed) as random_state:
        return rly.get_interval_estimates(curves, iqm_over_time, reps=reps, random_state=random_state)


def task_statistics(
    algos: dict[str, list[dict[str, Any]]], reference: str, reps: int
) -> tuple[dict[str, np.ndarray], dict[str, Interval], dict[str, Interval]]:
    """One task's final scores, IQM with its CI per algorithm, and P(> reference) with its CI (empty without it)."""
    scores = {algo: final_scores(runs) for algo, runs in algos.items()}
    improvement = improvement_intervals(scores, reference, reps) if reference in scores else {}
    return scores, iqm_intervals(scores, reps), improvement
