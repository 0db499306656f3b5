"""
Where a SAC gradient step's time goes on this CPU: matrix products against everything else, for SB3's SAC and for
SACMixture (MRP) with K = 1 and K = 5, measured in one process, and what that bounds.

The mixture's actor loss evaluates both critics on B x K actions (and back-propagates through the minimising one), so
its step holds more matrix-product FLOPs than SB3's. A product runs at most at the core's matrix-product rate,
whatever surrounds it (eager or compiled); compiling can only shrink the rest. The report prints:

- the FLOPs of the step's matrix products (torch.profiler's ``with_flops``) and their share of the step's time;
- the core's matrix-product rate: the best of repeated 1280x256 by 256x256 products, the largest shape in the step;
- ``ratio from FLOPs alone``: the ratio to SB3's env-steps/s if the mixture's step differed from SB3's only by its
  matrix-product FLOPs, the difference run at that best rate. For a step with more FLOPs than SB3's it is an upper
  bound (no other extra work at all): a target above it needs fewer FLOPs, not faster code.

Totals are timed without the profiler (it slows the many small operations); the profiler gives the products' share and
their FLOPs.

    python benchmarks/step_anatomy.py --threads 1 --out benchmarks/results/step_anatomy.md
"""

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from torch.profiler import ProfilerActivity, profile

from sb3_mixture import SACMixture
from sb3_mixture.experiments.provenance import processor

MATRIX_PRODUCTS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addmv", "aten::mv"}
BATCH_SIZE = 256


def candidates(env: str) -> dict[str, Callable[[], OffPolicyAlgorithm]]:
    common: dict[str, Any] = dict(learning_starts=100, seed=0, verbose=0)
    return {
        "SB3 SAC": lambda: SAC("MlpPolicy", env, **common),
        "SACMixture K=1 (mrp)": lambda: SACMixture("MlpPolicy", env, policy_kwargs=dict(n_components=1), **common),
        "SACMixture K=5 (mrp)": lambda: SACMixture("MlpPolicy", env, **common),
    }


def collection_ms(model: OffPolicyAlgorithm, steps: int) -> float:
    """Milliseconds per environment step of collection alone (``gradient_steps=0``)."""
    model.gradient_steps = 0
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    model.gradient_steps = 1
    return (time.perf_counter() - start) / steps * 1e3


def anatomy(model: OffPolicyAlgorithm, gradient_steps: int, rounds: int) -> dict[str, float]:
    """Per gradient step: total ms (best of ``rounds``, no profiler), the matrix products' share and GFLOP."""
    totals = []
    for _ in range(rounds):
        start = time.perf_counter()
        model.train(gradient_steps, BATCH_SIZE)
        totals.append((time.perf_counter() - start) / gradient_steps * 1e3)
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        model.train(gradient_steps, BATCH_SIZE)
    events = prof.key_averages()
    all_us = sum(event.self_cpu_time_total for event in events)
    product_us = sum(event.self_cpu_time_total for event in events if event.key in MATRIX_PRODUCTS)
    flops = sum(event.flops for event in events if event.key in MATRIX_PRODUCTS)
    total = min(totals)
    return {
        "total": total,
        "products": total * product_us / all_us,
        "gflop": flops / gradient_steps / 1e9,
    }


def best_product_rate(repeats: int = 200) -> float:
    """GFLOP/s of the fastest of ``repeats`` 1280x256 by 256x256 float32 products (the step's largest shape)."""
    left, right = th.randn(1280, 256), th.randn(256, 256)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        th.mm(left, right)
        best = min(best, time.perf_counter() - start)
    return 2 * 1280 * 256 * 256 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--gradient-steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--out", default=None, help="also write the Markdown table to this file")
    args = parser.parse_args()
    if args.threads is not None:
        th.set_num_threads(args.threads)
    results: dict[str, dict[str, float]] = {}
    for name, make in candidates(args.env).items():
        model = make()
        model.learn(400)  # past learning_starts, with a filled buffer
        collection = collection_ms(model, 200)
        results[name] = {**anatomy(model, args.gradient_steps, args.rounds), "collection": collection}
        del model
    rate = best_product_rate()
    reference = results["SB3 SAC"]
    reference_step = reference["total"] + reference["collection"]
    lines = [
        "# Anatomy of a SAC gradient step",
        "",
        f"Command: `python benchmarks/step_anatomy.py --threads {args.threads} --out {args.out}`; {args.env}, batch "
        f"{BATCH_SIZE}, 256x256 networks, torch {th.__version__}, {th.get_num_threads()} threads, {processor()}. "
        "Milliseconds per gradient step (best of the rounds); the matrix products' share of it from torch.profiler; "
        "collection per environment step. Best matrix-product rate of this core (1280x256 by 256x256): "
        f"{rate:.0f} GFLOP/s. Ratio from FLOPs alone: the ratio to SB3 SAC's env-steps/s if the step differed from "
        "SB3's only by its product FLOPs at that rate (see the script's docstring).",
        "",
        "| algorithm | step ms | matrix products ms | GFLOP/step | collection ms | ratio to SB3 now "
        "| ratio from FLOPs alone |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        now = reference_step / (result["total"] + result["collection"])
        extra_ms = (result["gflop"] - reference["gflop"]) / rate * 1e3
        bound = reference_step / (reference_step + extra_ms)
        lines.append(
            f"| {name} | {result['total']:.2f} | {result['products']:.2f} | {result['gflop']:.3f} "
            f"| {result['collection']:.2f} | {now:.3f} | {bound:.3f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as file:
            file.write(text)


if __name__ == "__main__":
    main()
