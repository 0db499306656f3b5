"""
Environment steps per second of SB3's SAC and of SACMixture, measured interleaved in one process.

The machine is shared and noisy, so the algorithms take turns: each round trains every model for the same
number of steps (in a rotating order), and the ratio to SAC is computed from the summed times. Same
hyperparameters everywhere (SB3's SAC defaults: batch 256, 256x256 networks, one gradient step per step).

    python benchmarks/throughput.py                   # Pendulum-v1, 8 rounds of 1000 steps
    python benchmarks/throughput.py --rounds 4 --steps-per-round 500
    python benchmarks/throughput.py --family ppo --rounds 4 --steps-per-round 4096   # PPO vs PPOMixture
"""

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch as th
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_mixture import PPOMixture, SACMixture

Factory = Callable[[str, int], BaseAlgorithm]


def ppo_candidates() -> dict[str, Factory]:
    """PPO (SB3's defaults: 2048 steps per rollout, 10 epochs of minibatches of 64) against PPOMixture K = 5."""
    return {
        "PPO": lambda env, seed: PPO("MlpPolicy", env, seed=seed),
        "PPOMixture K=5": lambda env, seed: PPOMixture("MlpPolicy", env, seed=seed, policy_kwargs=dict(n_components=5)),
    }


def candidates() -> dict[str, Factory]:
    """Name -> constructor. The first entry is the reference the ratios are taken against."""
    common: dict[str, Any] = dict(learning_starts=100, verbose=0)
    return {
        "SAC": lambda env, seed: SAC("MlpPolicy", env, seed=seed, **common),
        # SACMixture defaults to fused Adam; this row separates that gain from the estimator's cost.
        "SAC + fused Adam": lambda env, seed: SAC(
            "MlpPolicy", env, seed=seed, policy_kwargs=dict(optimizer_kwargs=dict(fused=True)), **common
        ),
        "SACMixture K=1 (mrp)": lambda env, seed: SACMixture(
            "MlpPolicy", env, seed=seed, policy_kwargs=dict(n_components=1), **common
        ),
        "SACMixture K=5 (mrp)": lambda env, seed: SACMixture(
            "MlpPolicy", env, seed=seed, policy_kwargs=dict(n_components=5), **common
        ),
    }


def measure(factories: dict[str, Factory], env_id: str, rounds: int, steps_per_round: int, seed: int) -> dict[str, float]:
    """Return env-steps per second per candidate, from ``rounds`` interleaved rounds (warm-up excluded)."""
    models = {name: factory(env_id, seed) for name, factory in factories.items()}
    for model in models.values():  # warm-up: fill past learning_starts, first updates, allocations
        model.learn(300)
    elapsed = dict.fromkeys(models, 0.0)
    names = list(models)
    for round_index in range(rounds):
        # Rotate the order so no candidate always runs first (or right after the same neighbour).
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            models[name].learn(steps_per_round, reset_num_timesteps=False)
            elapsed[name] += time.perf_counter() - start
    return {name: rounds * steps_per_round / seconds for name, seconds in elapsed.items()}


def report(rates: dict[str, float], title: str) -> str:
    reference_name = next(iter(rates))
    lines = [f"### {title}", "", f"| algorithm | env-steps/s | ratio to {reference_name} |", "|---|---|---|"]
    lines += [f"| {name} | {rate:.1f} | {rate / rates[reference_name]:.3f} |" for name, rate in rates.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps-per-round", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--family", choices=["sac", "ppo"], default="sac", help="which algorithm family to compare")
    args = parser.parse_args()
    factories = candidates() if args.family == "sac" else ppo_candidates()
    rates = measure(factories, args.env, args.rounds, args.steps_per_round, args.seed)
    title = f"{args.env}, {args.rounds} x {args.steps_per_round} steps each, torch threads {th.get_num_threads()}"
    print(report(rates, title))


if __name__ == "__main__":
    main()
