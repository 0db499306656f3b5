"""
Environment steps per second of SB3's SAC and PPO and of the package's algorithms, eager and ``compile=True``, measured
interleaved in one process, with the compile time and a split of where each step's time goes.

The machine is shared and noisy, so the candidates take turns: each round trains every model for the same number of
steps (in a rotating order); a candidate's ratio to the reference (SB3's algorithm, first in the table) is the median of
its per-round ratios, its rate the median of its per-round rates.

Settings (``--setting``):

- ``rlzoo``: RL Zoo's SAC settings for the MuJoCo tasks (SB3's defaults: batch 256, 256x256 networks, one gradient
  step per environment step) and SB3's PPO defaults; SBX's JAX SAC (``sbx-rl``, same defaults) joins when installed
  (``pip install ".[sbx]"``).
- ``small``: the MRP paper's classic-control setting (hidden 64x64, batch 32, tau 0.01, a fixed alpha 0.1; its
  Sec. 5.3 and App. E.1), on the package's MountainCar and Acrobot, with every SAC-family key.

Families (``--families``): ``sac`` and ``ppo`` (SB3's algorithm first), ``tqc`` and ``crossq`` (sb3-contrib's first,
then TQCMixture / CrossQMixture at K = 1 and K = 5, eager and compiled). CrossQ runs with RL Zoo's MuJoCo critics
(``net_arch=dict(pi=[256, 256], qf=[W, W])``, W = ``--crossq-critic-width``, RL Zoo's 2048 by default) and
``policy_delay=3``.

    python benchmarks/throughput.py --setting rlzoo --out benchmarks/results/throughput.md
    python benchmarks/throughput.py --setting small --out benchmarks/results/throughput_small.md
    python benchmarks/throughput.py --setting small --envs sb3_mixture/MountainCar-v1 --rounds 3 --sac-steps 300
    python benchmarks/throughput.py --families tqc crossq --threads 1 --out benchmarks/results/throughput_contrib.md
    python benchmarks/throughput.py --precisions fp32 bf16 --threads 1 --out benchmarks/results/throughput_bf16.md
"""

import argparse
import importlib.util
import shlex
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import torch as th
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_mixture import SACAWMP, SACGMM, SACM, SACPMOE, CrossQMixture, PPOMixture, SACMixture, TQCMixture
from sb3_mixture.experiments.provenance import processor

Factory = Callable[[str], BaseAlgorithm]
# Methods timed per phase; collection and training are SB3's own methods. Inside a gradient step (eager models only: a
# compiled step is one graph) a phase is its loss hook plus its optimizer step, told apart by the logged loss's name.
PHASES = {"collect_rollouts": "collection", "train": "training"}
STEP_PHASES = {
    "_value_step": "critic",  # SAC v1's value network (SAC-GMM, SAC-AWMP), with its own optimizer step
    "_critic_loss": "critic",
    "_actor_loss": "actor",
    "_update_targets": "target update",
}
OPTIMIZER_STEP_PHASES = {"critic_loss": "critic", "actor_loss": "actor", "ent_coef_loss": "temperature"}
SMALL: dict[str, Any] = dict(
    batch_size=32, tau=0.01, buffer_size=100_000, ent_coef=0.1, learning_starts=100, policy_kwargs=dict(net_arch=[64, 64])
)


def with_components(kwargs: dict[str, Any], n_components: int) -> dict[str, Any]:
    return {**kwargs, "policy_kwargs": {**kwargs.get("policy_kwargs", {}), "n_components": n_components}}


def variants(precisions: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Name suffix -> keywords of the package's variants: eager and compiled, in each of ``precisions``."""
    named: dict[str, dict[str, Any]] = {}
    for precision in precisions:
        for compile in (False, True):
            suffix = (", compile" if compile else "") + (", bf16" if precision == "bf16" else "")
            named[suffix] = dict(compile=compile, precision=precision)
    return named


def factory(cls: Callable[..., BaseAlgorithm], **kwargs: Any) -> Factory:
    """A constructor of ``cls("MlpPolicy", env, **kwargs)``."""
    return lambda env: cls("MlpPolicy", env, **kwargs)


def sac_candidates(setting: str, precisions: Sequence[str]) -> dict[str, Factory]:
    """Name -> constructor. The first entry is the reference the ratios are taken against."""
    common: dict[str, Any] = dict(seed=0, verbose=0, **(SMALL if setting == "small" else dict(learning_starts=100)))
    candidates: dict[str, Factory] = {"SB3 SAC": factory(SAC, **common)}
    if setting == "rlzoo" and importlib.util.find_spec("sbx") is not None:
        from sbx import SAC as SBXSAC

        candidates["SBX SAC (JAX)"] = factory(SBXSAC, **common)
    for n_components in (1, 5):
        for suffix, variant in variants(precisions).items():
            kwargs = with_components(common, n_components)
            candidates[f"SACMixture K={n_components} (mrp){suffix}"] = factory(SACMixture, **variant, **kwargs)
    if setting == "small":
        awmp = {**common, "prior_update_interval": 1000, "prior_gradient_steps": 100}
        others: dict[str, tuple[Callable[..., BaseAlgorithm], dict[str, Any]]] = {
            "SACM": (SACM, common),
            "PMOE-SAC": (SACPMOE, common),
            "SAC-GMM": (SACGMM, common),
            "SAC-AWMP": (SACAWMP, awmp),
        }
        for name, (cls, kwargs) in others.items():
            for suffix, variant in variants(precisions).items():
                candidates[f"{name}{suffix}"] = factory(cls, **variant, **kwargs)
    return candidates


def contrib_candidates(family: str, crossq_critic_width: int, precisions: Sequence[str]) -> dict[str, Factory]:
    """sb3-contrib's TQC or CrossQ (the reference), then its mixture at K = 1 and K = 5, eager and compiled."""
    reference: type[BaseAlgorithm]
    mixture: type[BaseAlgorithm]
    common: dict[str, Any] = dict(seed=0, verbose=0, learning_starts=100)
    if family == "tqc":
        reference, mixture = TQC, TQCMixture
    else:
        reference, mixture = CrossQ, CrossQMixture
        net_arch = dict(pi=[256, 256], qf=[crossq_critic_width, crossq_critic_width])
        common.update(learning_rate=1e-3, policy_delay=3, policy_kwargs=dict(net_arch=net_arch))
    candidates: dict[str, Factory] = {f"sb3-contrib {reference.__name__}": factory(reference, **common)}
    for n_components in (1, 5):
        for suffix, variant in variants(precisions).items():
            name = f"{mixture.__name__} K={n_components} (mrp){suffix}"
            candidates[name] = factory(mixture, **variant, **with_components(common, n_components))
    return candidates


def ppo_candidates(setting: str, precisions: Sequence[str]) -> dict[str, Factory]:
    candidates: dict[str, Factory] = {"SB3 PPO": factory(PPO, seed=0)}
    for suffix, variant in variants(precisions).items():
        candidates[f"PPOMixture K=5{suffix}"] = factory(PPOMixture, seed=0, **variant)
    return candidates


def time_phases(model: BaseAlgorithm, phases: dict[str, str], optimizer_steps: bool) -> dict[str, float]:
    """Wrap the model's phase methods with timers (instance attributes), and its ``_optimizer_step`` where
    ``optimizer_steps``; returns the seconds summed per phase."""
    seconds: dict[str, float] = defaultdict(float)

    def timer(method: Callable[..., Any], phase_of: Callable[..., str | None]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            result = method(*args, **kwargs)
            phase = phase_of(*args, **kwargs)
            if phase is not None:
                seconds[phase] += time.perf_counter() - start
            return result

        return timed

    for method_name, phase in phases.items():
        if hasattr(model, method_name):
            setattr(model, method_name, timer(getattr(model, method_name), lambda *args, _phase=phase, **kwargs: _phase))

    def optimizer_step_phase(optimizer: Any, loss: Any, name: str, logs: Any) -> str | None:
        return OPTIMIZER_STEP_PHASES.get(name)  # None for the value network's: timed inside _value_step already

    optimizer_step = "_optimizer_step"
    if optimizer_steps and hasattr(model, optimizer_step):
        setattr(model, optimizer_step, timer(getattr(model, optimizer_step), optimizer_step_phase))
    return seconds


def measure(
    factories: dict[str, Factory], env_id: str, rounds: int, steps_per_round: int, warm_up: int
) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict[str, dict[str, float]]]:
    """Median env-steps per second, median ratio to the first candidate, warm-up seconds (the compile time is paid
    there) and milliseconds per environment step per phase."""
    models, warm_up_seconds = {}, {}
    for name, factory in factories.items():
        model = factory(env_id)
        start = time.perf_counter()
        model.learn(warm_up)  # past learning_starts: the first updates compile (compile=True) and allocate
        warm_up_seconds[name] = time.perf_counter() - start
        models[name] = model
    phase_seconds = {}
    for name, model in models.items():
        compiled = getattr(model, "compile", False)
        phase_seconds[name] = time_phases(model, PHASES if compiled else {**PHASES, **STEP_PHASES}, not compiled)
    elapsed: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for round_index in range(rounds):
        # Rotate the order so no candidate always runs first (or right after the same neighbour).
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            models[name].learn(steps_per_round, reset_num_timesteps=False)
            elapsed[name].append(time.perf_counter() - start)
    reference = names[0]
    rates = {name: statistics.median(steps_per_round / seconds for seconds in times) for name, times in elapsed.items()}
    ratios = {
        name: statistics.median(base / seconds for base, seconds in zip(elapsed[reference], times, strict=True))
        for name, times in elapsed.items()
    }
    steps = rounds * steps_per_round
    per_step = {
        name: {phase: 1e3 * value / steps for phase, value in seconds.items()} for name, seconds in phase_seconds.items()
    }
    return rates, ratios, warm_up_seconds, per_step


def report(
    title: str,
    rates: dict[str, float],
    ratios: dict[str, float],
    warm_up: dict[str, float],
    per_step: dict[str, dict[str, float]],
    phases: list[str],
) -> str:
    reference = next(iter(rates))
    header = f"| algorithm | env-steps/s | ratio to {reference} | warm-up s (compile included) | " + " | ".join(
        f"{phase} ms/step" for phase in phases
    )
    lines = [f"### {title}", "", header + " |", "|---" * (4 + len(phases)) + "|"]
    for name, rate in rates.items():
        split = " | ".join(f"{per_step[name][phase]:.2f}" if phase in per_step[name] else "-" for phase in phases)
        lines.append(f"| {name} | {rate:.1f} | {ratios[name]:.2f} | {warm_up[name]:.1f} | {split} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", choices=["rlzoo", "small"], default="rlzoo")
    parser.add_argument(
        "--envs", nargs="+", default=None, help="default: HalfCheetah-v5 (rlzoo); MountainCar, Acrobot (small)"
    )
    parser.add_argument(
        "--families", nargs="+", choices=["sac", "ppo", "tqc", "crossq"], default=None, help="default: sac and ppo (rlzoo)"
    )
    parser.add_argument("--crossq-critic-width", type=int, default=2048, help="CrossQ's critic width (RL Zoo's: 2048)")
    parser.add_argument(
        "--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32"], help="the package's precisions to measure"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sac-steps", type=int, default=None, help="environment steps per round, SAC family")
    parser.add_argument("--ppo-steps", type=int, default=4096, help="environment steps per round, PPO family")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--note", default="", help="what else ran on the machine, for the table's header")
    parser.add_argument("--out", default=None, help="also write the Markdown tables to this file")
    args = parser.parse_args()
    small = args.setting == "small"
    envs = args.envs or (["sb3_mixture/MountainCar-v1", "sb3_mixture/ContinuousAcrobot-v1"] if small else ["HalfCheetah-v5"])
    families = args.families or (["sac"] if small else ["sac", "ppo"])
    sac_steps = args.sac_steps or (2000 if small else 500)
    if args.threads:
        th.set_num_threads(args.threads)
    sections = [
        "# Training throughput" + (", the MRP paper's small networks" if small else ", RL Zoo's settings"),
        "",
        f"Command: `python {shlex.join(sys.argv)}`; torch {th.__version__}, {th.get_num_threads()} threads, "
        f"{processor()}. {args.note} Rates and ratios: medians over the rounds. Phase "
        "columns: milliseconds per environment step in each phase (training with its backward passes and optimizer "
        "steps; critic, actor, temperature and target update inside it, for eager models only: a compiled gradient "
        "step is one graph); SB3's and SBX's algorithms have no phase methods but collection and training.",
    ]
    phases = list(dict.fromkeys([*PHASES.values(), *STEP_PHASES.values()]))
    for family in families:
        off_policy = family != "ppo"
        if family in ("sac", "ppo"):
            candidates = sac_candidates if family == "sac" else ppo_candidates
            factories = candidates(args.setting, args.precisions)
        else:
            factories = contrib_candidates(family, args.crossq_critic_width, args.precisions)
        steps = sac_steps if off_policy else args.ppo_steps
        warm_up = 300 if off_policy else 2048
        for env_id in envs:
            rates, ratios, warm_up_seconds, per_step = measure(factories, env_id, args.rounds, steps, warm_up)
            width = f", critics {args.crossq_critic_width} wide" if family == "crossq" else ""
            title = f"{env_id}, {family.upper()} family{width}, {args.rounds} rounds x {steps} steps each"
            shown = phases if off_policy else list(PHASES.values())
            sections += ["", report(title, rates, ratios, warm_up_seconds, per_step, shown)]
            print(sections[-1], flush=True)
    if args.out:
        with open(args.out, "w") as file:
            file.write("\n".join(sections) + "\n")


if __name__ == "__main__":
    main()
