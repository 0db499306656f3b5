"""
Why SAC-AWMP and PMOE-SAC stay between the bimodal bandit's peaks (sb3_mixture/BimodalBandit-v0, MRP Fig. 1): their
own objectives, computed exactly (quadrature) or with many common noise draws, prefer that configuration.

- SAC-AWMP: on a state-free task each component minimises its own SAC loss ``E_{pi_o}[alpha log pi_o(a) - r(a)]``
  (the prior's assignment only weighs the components' losses), so each component goes where a single squashed
  Gaussian's optimum lies. The script finds that optimum by quadrature and gradient descent from three starts.
- PMOE-SAC with back-propagation-max: the experts minimise ``J_max = E[min_k (alpha log pi_k(a_k) - r(a_k))]``,
  ``a_k ~ pi_k`` independent. The script evaluates J_max for K experts collapsed at the single-Gaussian optimum and
  split over the two peaks, and descends J_max from the split start.

    python benchmarks/bimodal_objectives.py --out benchmarks/results/bimodal_objectives.md
"""

import argparse
import math
import sys
from collections.abc import Callable

import torch as th

from sb3_mixture.envs.bandit import BIMODAL_PRESET, MultimodalBandit

GRID = th.linspace(-10.0, 10.0, 100_001, dtype=th.float64)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def reward_function() -> Callable[[th.Tensor], th.Tensor]:
    """The bandit's reward ``r(a)`` as a differentiable function of torch actions."""
    env = MultimodalBandit(**BIMODAL_PRESET)
    means, stds, scale = th.tensor(env.means[:, 0]), th.tensor(env.stds), env._scale

    def reward(actions: th.Tensor) -> th.Tensor:
        densities = th.exp(-0.5 * ((actions.unsqueeze(-1) - means) / stds) ** 2) / (math.sqrt(2 * math.pi) * stds)
        return densities.sum(dim=-1) / scale

    return reward


REWARD = reward_function()


def own_objective(gaussian_actions: th.Tensor, mean: th.Tensor, log_std: th.Tensor, alpha: float) -> th.Tensor:
    """``alpha log pi(a) - r(a)`` of a squashed Gaussian at pre-tanh values (the exact tanh Jacobian)."""
    log_density = -0.5 * ((gaussian_actions - mean) / log_std.exp()) ** 2 - log_std - _HALF_LOG_2PI
    log_density = log_density - 2.0 * (math.log(2.0) - gaussian_actions - th.nn.functional.softplus(-2.0 * gaussian_actions))
    return alpha * log_density - REWARD(th.tanh(gaussian_actions))


def single_gaussian_loss(mean: th.Tensor, log_std: th.Tensor, alpha: float) -> th.Tensor:
    """A component's SAC loss ``E_pi[alpha log pi(a) - r(a)]`` by quadrature over the pre-tanh value."""
    density = th.exp(-0.5 * ((GRID - mean) / log_std.exp()) ** 2 - log_std - _HALF_LOG_2PI)
    return th.trapezoid(density * own_objective(GRID, mean, log_std, alpha), GRID)


def descend(loss: object, mean: list[float], log_std: list[float], steps: int = 1500) -> tuple[th.Tensor, th.Tensor]:
    mean_t = th.tensor(mean, dtype=th.float64, requires_grad=True)
    log_std_t = th.tensor(log_std, dtype=th.float64, requires_grad=True)
    optimizer = th.optim.Adam([mean_t, log_std_t], lr=0.01)
    for _ in range(steps):
        optimizer.zero_grad()
        loss(mean_t, log_std_t).backward()  # type: ignore[operator]
        optimizer.step()
    return mean_t.detach(), log_std_t.detach()


def max_objective(mean: th.Tensor, log_std: th.Tensor, alpha: float, noise: th.Tensor) -> th.Tensor:
    """PMOE's back-propagation-max objective ``E[min_k f_k(a_k)]`` over common noise ``[N, K]``."""
    gaussian_actions = mean + log_std.exp() * noise
    return own_objective(gaussian_actions, mean, log_std, alpha).min(dim=1).values.mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alphas", nargs="+", type=float, default=[0.05, 0.2, 1.0])
    parser.add_argument("--experts", type=int, default=4, help="K of PMOE-SAC")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    th.manual_seed(0)
    peak = math.atanh(0.5)
    lines = [
        "# The bimodal bandit under SAC-AWMP's and PMOE-SAC's own objectives",
        "",
        f"Command: `python {' '.join(sys.argv)}`. Reward: `sb3_mixture/BimodalBandit-v0` (peaks of 1 at actions -0.5 "
        f"and 0.5, {float(REWARD(th.tensor(0.0, dtype=th.float64))):.3f} at 0). Actions are squashed (tanh); `mu` below "
        "is the squashed mean.",
        "",
        "## One component's SAC loss (each SAC-AWMP component on a state-free task)",
        "",
        "| alpha | start | optimum mu | optimum std (pre-tanh) | loss at optimum | loss of the best Gaussian on a peak |",
        "|---|---|---|---|---|---|",
    ]
    collapsed = {}
    for alpha in args.alphas:
        on_peak = descend(lambda m, s, a=alpha: single_gaussian_loss(m, s, a), [peak], [-2.0])
        peak_loss = float(single_gaussian_loss(*on_peak, alpha))
        for name, start in (("a peak", peak), ("midpoint", 0.0)):
            mean, log_std = descend(lambda m, s, a=alpha: single_gaussian_loss(m, s, a), [start], [-2.0])
            loss = float(single_gaussian_loss(mean, log_std, alpha))
            if name == "midpoint":
                collapsed[alpha] = (mean, log_std)
            lines.append(
                f"| {alpha} | {name} | {math.tanh(float(mean)):+.3f} | {float(log_std.exp()):.3f} | {loss:.4f} | "
                f"{peak_loss:.4f} |"
            )
    k = args.experts
    noise = th.randn(400_000, k, dtype=th.float64)
    lines += [
        "",
        f"## PMOE-SAC's back-propagation-max objective, K = {k} experts (400k common noise draws; lower is better)",
        "",
        "| alpha | collapsed at the single optimum | split over the two peaks | descent from the split start: final mu |",
        "|---|---|---|---|",
    ]
    for alpha in args.alphas:
        mean, log_std = collapsed[alpha]
        collapsed_value = float(max_objective(mean.repeat(k), log_std.repeat(k), alpha, noise))
        split_mean = th.tensor([peak if index % 2 else -peak for index in range(k)], dtype=th.float64)
        split_log_std = th.full((k,), -2.0, dtype=th.float64)
        split_value = float(max_objective(split_mean, split_log_std, alpha, noise))
        final_mean, _ = descend(
            lambda m, s, a=alpha: max_objective(m, s, a, noise[:50_000]), split_mean.tolist(), split_log_std.tolist(), 600
        )
        finals = ", ".join(f"{math.tanh(value):+.2f}" for value in final_mean.tolist())
        lines.append(f"| {alpha} | {collapsed_value:.4f} | {split_value:.4f} | {finals} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "w") as file:
            file.write(report)


if __name__ == "__main__":
    main()
