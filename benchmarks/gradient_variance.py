"""
Gradient variance of the actor-gradient estimators (He et al. 2026, F.1 / Figure 23), as a Markdown table.

For each environment: train SACMixture (MRP, K = 5) for a short while, then fix the actor, the critic and
one minibatch, recompute the actor gradient ``--repeats`` times with fresh noise for each estimator, and
report the trace of the gradient covariance (and the norm of the mean gradient, for scale).

    python benchmarks/gradient_variance.py                                   # Pendulum-v1 and HalfCheetah-v5
    python benchmarks/gradient_variance.py --envs Pendulum-v1 --train-steps 2000 --repeats 50
"""

import argparse
from pathlib import Path

from sb3_mixture import SACMixture
from sb3_mixture.common.estimators import MixtureEstimator, make_estimator
from sb3_mixture.diagnostics import gradient_covariance_trace


def estimators() -> dict[str, MixtureEstimator]:
    return {
        "MRP": make_estimator("mrp"),
        "LR with baseline": make_estimator("lr"),
        "LR without baseline": make_estimator("lr", baseline=False),
        "HalfRP": make_estimator("half_rp"),
        "GumbelRP (tau=1)": make_estimator("gumbel_rp"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["Pendulum-v1", "HalfCheetah-v5"])
    parser.add_argument("--train-steps", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "gradient_variance.md")
    args = parser.parse_args()

    lines = [
        "# Actor-gradient variance per estimator",
        "",
        f"SACMixture (MRP, K = 5) trained {args.train_steps} steps (learning_starts 1000), then the actor gradient",
        f"recomputed {args.repeats} times on one fixed minibatch of {args.batch_size} states; seed {args.seed}.",
        f"Command: `python benchmarks/gradient_variance.py --train-steps {args.train_steps} --repeats {args.repeats}`",
        "",
        "| environment | estimator | trace of gradient covariance | norm of mean gradient |",
        "|---|---|---|---|",
    ]
    for env_id in args.envs:
        model = SACMixture("MlpPolicy", env_id, learning_starts=1000, seed=args.seed)
        model.learn(args.train_steps)
        results = gradient_covariance_trace(model, estimators(), args.batch_size, args.repeats, args.seed)
        lines += [f"| {env_id} | {name} | {r['trace']:.4g} | {r['mean_norm']:.4g} |" for name, r in results.items()]
        print("\n".join(lines[-len(results) :]), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
