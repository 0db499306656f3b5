"""
Gradient variance of the actor-gradient estimators (He et al. 2026, F.1 / Figure 23), as a Markdown table.

For each environment and seed: train SACMixture (MRP, K = 5; the compiled step, same numbers), and at each checkpoint
fix the actor, the critic and one minibatch, recompute the actor gradient ``--repeats`` times with fresh noise for each
estimator, and record the trace of the gradient covariance (and the norm of the mean gradient, for scale). The table
gives every (seed, checkpoint) measurement; the summary counts, per estimator, the measurements in which its trace is
below MRP's.

    python benchmarks/gradient_variance.py                                   # Pendulum-v1 and HalfCheetah-v5
    python benchmarks/gradient_variance.py --envs Pendulum-v1 --checkpoints 2000 --seeds 0 --repeats 50
"""

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from sb3_mixture import SACMixture
from sb3_mixture.common.estimators import MixtureEstimator, make_estimator
from sb3_mixture.diagnostics import gradient_covariance_trace

REFERENCE = "MRP"


def estimators() -> dict[str, MixtureEstimator]:
    return {
        REFERENCE: make_estimator("mrp"),
        "LR with baseline": make_estimator("lr"),
        "LR without baseline": make_estimator("lr", baseline=False),
        "HalfRP": make_estimator("half_rp"),
        "GumbelRP (tau=1)": make_estimator("gumbel_rp"),
    }


def measure(env_id: str, seed: int, checkpoints: list[int], batch_size: int, repeats: int) -> dict[int, dict[str, dict]]:
    """Per checkpoint, per estimator: the trace and mean-gradient norm of one training run (seed) at that checkpoint."""
    model = SACMixture("MlpPolicy", env_id, learning_starts=1000, seed=seed, compile=True)
    results = {}
    for checkpoint in sorted(checkpoints):
        model.learn(checkpoint - model.num_timesteps, reset_num_timesteps=False)
        results[checkpoint] = gradient_covariance_trace(model, estimators(), batch_size, repeats, seed)
    return results


def summary_lines(env_id: str, results: dict[int, dict[int, dict[str, dict]]]) -> list[str]:
    """Per estimator: in how many (seed, checkpoint) measurements its trace is below MRP's, and the range of the ratio."""
    lines = [f"| {env_id} | estimator | trace below MRP's | trace / MRP's (lowest, median, highest) |", "|---|---|---|---|"]
    measurements = [by_estimator for by_checkpoint in results.values() for by_estimator in by_checkpoint.values()]
    for name in estimators():
        if name == REFERENCE:
            continue
        ratios = np.array([m[name]["trace"] / m[REFERENCE]["trace"] for m in measurements])
        low, median, high = np.min(ratios), np.median(ratios), np.max(ratios)
        lines.append(f"| | {name} | {int((ratios < 1).sum())}/{len(ratios)} | {low:.3g}, {median:.3g}, {high:.3g} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["Pendulum-v1", "HalfCheetah-v5"])
    parser.add_argument("--checkpoints", nargs="+", type=int, default=[5000, 15000, 30000], help="environment steps")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "gradient_variance.md")
    args = parser.parse_args()

    command = shlex.join(["python", "benchmarks/gradient_variance.py", *sys.argv[1:]])
    lines = [
        "# Actor-gradient variance per estimator",
        "",
        f"SACMixture (MRP, K = 5, SB3's SAC defaults, learning_starts 1000) trained with seeds {args.seeds}; at each",
        f"checkpoint ({', '.join(map(str, args.checkpoints))} steps) the actor gradient of each estimator recomputed",
        f"{args.repeats} times on one fixed minibatch of {args.batch_size} states (fresh noise each time, the same",
        "actor and critic for every estimator). Trace: the sum of the per-parameter variances.",
        "",
        f"Command: `{command}`",
        "",
    ]
    summaries = []
    for env_id in args.envs:
        results = {seed: measure(env_id, seed, args.checkpoints, args.batch_size, args.repeats) for seed in args.seeds}
        lines += [
            f"## {env_id}",
            "",
            "| seed | steps | estimator | trace of gradient covariance | norm of mean gradient |",
            "|---|---|---|---|---|",
        ]
        for seed, by_checkpoint in results.items():
            for checkpoint, by_estimator in by_checkpoint.items():
                lines += [
                    f"| {seed} | {checkpoint} | {name} | {r['trace']:.4g} | {r['mean_norm']:.4g} |"
                    for name, r in by_estimator.items()
                ]
        lines.append("")
        summary = summary_lines(env_id, results)
        summaries += [*summary, ""]
        print("\n".join(summary), flush=True)
    lines += ["## Against MRP, per measurement", "", *summaries]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines))
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
