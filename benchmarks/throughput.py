"""
Environment steps per second of SB3's SAC and PPO and of the mixture algorithms, eager and ``compile=True``, measured
interleaved in one process, with the compile time and a per-phase split of where each step's time goes.

The machine is shared and noisy, so the candidates take turns: each round trains every model for the same number of
steps (in a rotating order), and the ratio to SB3 is computed from the summed times. Same hyperparameters everywhere
(SB3's defaults: for SAC batch 256, 256x256 networks, one gradient step per environment step; for PPO 2048 steps per
rollout, 10 epochs of minibatches of 64).

    python benchmarks/throughput.py --out benchmarks/results/throughput.md          # HalfCheetah-v5 and Pendulum-v1
    python benchmarks/throughput.py --envs Pendulum-v1 --rounds 2 --sac-steps 300   # a quick look
"""

import argparse
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch as th
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_mixture import PPOMixture, SACMixture

Factory = Callable[[str], BaseAlgorithm]
# Methods timed per phase (each includes its backward pass and optimizer step); collection is SB3's own method.
SAC_PHASES = {
    "collect_rollouts": "collection",
    "_critic_step": "critic",
    "_actor_step": "actor",
    "_entropy_coefficient_step": "temperature",
    "_target_step": "target update",
}
PPO_PHASES = {"collect_rollouts": "collection", "train": "training"}


def sac_candidates() -> dict[str, Factory]:
    """Name -> constructor. The first entry is the reference the ratios are taken against."""
    common: dict[str, Any] = dict(learning_starts=100, seed=0, verbose=0)
    return {
        "SB3 SAC": lambda env: SAC("MlpPolicy", env, **common),
        "SACMixture K=1 (mrp)": lambda env: SACMixture("MlpPolicy", env, policy_kwargs=dict(n_components=1), **common),
        "SACMixture K=5 (mrp)": lambda env: SACMixture("MlpPolicy", env, **common),
        "SACMixture K=1 (mrp), compile": lambda env: SACMixture(
            "MlpPolicy", env, policy_kwargs=dict(n_components=1), compile=True, **common
        ),
        "SACMixture K=5 (mrp), compile": lambda env: SACMixture("MlpPolicy", env, compile=True, **common),
    }


def ppo_candidates() -> dict[str, Factory]:
    return {
        "SB3 PPO": lambda env: PPO("MlpPolicy", env, seed=0),
        "PPOMixture K=5": lambda env: PPOMixture("MlpPolicy", env, seed=0),
        "PPOMixture K=5, compile": lambda env: PPOMixture("MlpPolicy", env, seed=0, compile=True),
    }


def time_phases(model: BaseAlgorithm, phases: dict[str, str]) -> dict[str, float]:
    """Wrap the model's phase methods with timers (instance attributes); returns the seconds summed per phase."""
    seconds: dict[str, float] = defaultdict(float)
    for method_name, phase in phases.items():
        if not hasattr(model, method_name):
            continue
        method = getattr(model, method_name)

        def timed(*args: Any, _method: Callable[..., Any] = method, _phase: str = phase, **kwargs: Any) -> Any:
            start = time.perf_counter()
            result = _method(*args, **kwargs)
            seconds[_phase] += time.perf_counter() - start
            return result

        setattr(model, method_name, timed)
    return seconds


def measure(
    factories: dict[str, Factory], env_id: str, rounds: int, steps_per_round: int, warm_up: int, phases: dict[str, str]
) -> tuple[dict[str, float], dict[str, float], dict[str, dict[str, float]]]:
    """Env-steps per second, warm-up seconds (the compile time is paid there) and seconds per step per phase."""
    models, warm_up_seconds = {}, {}
    for name, factory in factories.items():
        model = factory(env_id)
        start = time.perf_counter()
        model.learn(warm_up)  # past learning_starts: the first updates compile (compile=True) and allocate
        warm_up_seconds[name] = time.perf_counter() - start
        models[name] = model
    phase_seconds = {name: time_phases(model, phases) for name, model in models.items()}
    for seconds in phase_seconds.values():
        seconds.clear()
    elapsed = dict.fromkeys(models, 0.0)
    names = list(models)
    for round_index in range(rounds):
        # Rotate the order so no candidate always runs first (or right after the same neighbour).
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            models[name].learn(steps_per_round, reset_num_timesteps=False)
            elapsed[name] += time.perf_counter() - start
    steps = rounds * steps_per_round
    rates = {name: steps / seconds for name, seconds in elapsed.items()}
    per_step = {
        name: {phase: 1e3 * value / steps for phase, value in seconds.items()} for name, seconds in phase_seconds.items()
    }
    return rates, warm_up_seconds, per_step


def report(
    title: str, rates: dict[str, float], warm_up: dict[str, float], per_step: dict[str, dict[str, float]], phases: list[str]
) -> str:
    reference = next(iter(rates))
    header = f"| algorithm | env-steps/s | ratio to {reference} | warm-up s (compile included) | " + " | ".join(
        f"{phase} ms/step" for phase in phases
    )
    lines = [f"### {title}", "", header + " |", "|---" * (4 + len(phases)) + "|"]
    for name, rate in rates.items():
        split = " | ".join(f"{per_step[name][phase]:.2f}" if phase in per_step[name] else "-" for phase in phases)
        lines.append(f"| {name} | {rate:.1f} | {rate / rates[reference]:.3f} | {warm_up[name]:.1f} | {split} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["HalfCheetah-v5", "Pendulum-v1"])
    parser.add_argument("--families", nargs="+", choices=["sac", "ppo"], default=["sac", "ppo"])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--sac-steps", type=int, default=500, help="environment steps per round, SAC family")
    parser.add_argument("--ppo-steps", type=int, default=4096, help="environment steps per round, PPO family")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--out", default=None, help="also write the Markdown tables to this file")
    args = parser.parse_args()
    if args.threads:
        th.set_num_threads(args.threads)
    sections = [
        "# Training throughput",
        "",
        f"Command: `python {' '.join(sys.argv)}`; torch {th.__version__}, {th.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}. Per-phase columns: milliseconds per environment step spent "
        "in each phase (each training phase with its backward pass and optimizer step); SB3's own algorithms have no "
        "phase methods, so only their totals show.",
    ]
    for family in args.families:
        factories = sac_candidates() if family == "sac" else ppo_candidates()
        phases = SAC_PHASES if family == "sac" else PPO_PHASES
        steps = args.sac_steps if family == "sac" else args.ppo_steps
        warm_up = 300 if family == "sac" else 2048
        for env_id in args.envs:
            rates, warm_up_seconds, per_step = measure(factories, env_id, args.rounds, steps, warm_up, phases)
            title = f"{env_id}, {family.upper()} family, {args.rounds} rounds x {steps} steps each"
            sections += ["", report(title, rates, warm_up_seconds, per_step, list(dict.fromkeys(phases.values())))]
            print(sections[-1], flush=True)
    if args.out:
        with open(args.out, "w") as file:
            file.write("\n".join(sections) + "\n")


if __name__ == "__main__":
    main()
