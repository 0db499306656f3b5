"""
Why a PPO mixture trails PPO on a MuJoCo task: runs with the MuJoCo grid's settings (``sb3_mixture.experiments``'s
model, envs and RL Zoo YAML), each evaluated every ``--eval-freq`` steps in several ways from the same start states:

- ``heaviest mean``: ``predict(deterministic=True)``, the mean of the heaviest component (what the grid reports);
- ``sample``: ``predict(deterministic=False)``, an action drawn from the mixture (the policy PPO trains);
- ``weighted mean``: ``sum_k w_k mu_k``;
- ``densest mean``: the component mean where the mixture's density is highest.

For a mixture also: the mean largest weight along the evaluation episodes and how often the heaviest component changes
from one step to the next. For ``ppo_pmoe``, averaged over the rollouts since the last evaluation, whether the routing
loss's labels ``argmax_k Qaux(s, a_k)`` carry information: the entropy of their histogram (``ln K``: every component
equally often), how often two independent draws of the component actions give a state the same label (``1/K``: chance),
against the agreement labels drawn from that histogram regardless of the state would have (the sum of its squared
frequencies: above it, the labels carry per-state information), and how far ``Qaux`` spreads across the components
against its fit error on the rollout's returns.

    python benchmarks/ppo_mixture_diagnosis.py --env HalfCheetah-v5 --seed 0 --run ppo:150000 --run ppo_mixture:150000 \\
        --run ppo_mixture:150000:policy_kwargs="dict(..., n_components=1)" --run ppo_pmoe:300000 \\
        --out benchmarks/results/ppo_mixture_diagnosis.md
"""

import argparse
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import sync_envs_normalization

from sb3_mixture.common.distributions import GaussianMixture
from sb3_mixture.experiments.building import build
from sb3_mixture.experiments.specs import RunSpec
from sb3_mixture.pmoe.ppo_pmoe import PPOPMOE

MIXTURE_MODES = ("heaviest mean", "sample", "weighted mean", "densest mean")
GAUSSIAN_MODES = ("heaviest mean", "sample")  # a single Gaussian: its mean, and a draw


class ModePredictor:
    """``predict`` for ``evaluate_policy``: the action one mode takes from the policy's distribution, clipped to the
    action space as SB3's ``predict`` does; records the mixture's heaviest component and largest weight."""

    def __init__(self, model: Any, mode: str):
        self.model, self.mode = model, mode
        self.heaviest: list[int] = []
        self.largest_weights: list[float] = []

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False) -> Any:
        with th.no_grad():
            observations, _ = self.model.policy.obs_to_tensor(observation)
            distribution = self.model.policy.get_distribution(observations)
            if isinstance(distribution, GaussianMixture):
                self.heaviest.extend(distribution.logits.argmax(dim=-1).tolist())
                self.largest_weights.extend(distribution.weights.max(dim=-1).values.tolist())
                actions = self._mixture_action(distribution)
            else:
                actions = distribution.get_actions(deterministic=self.mode == "heaviest mean")
        space = self.model.action_space
        return np.clip(actions.cpu().numpy(), space.low, space.high), None

    def _mixture_action(self, distribution: GaussianMixture) -> th.Tensor:
        if self.mode == "heaviest mean":
            return distribution.mode()
        if self.mode == "sample":
            return distribution.sample()
        if self.mode == "weighted mean":
            return (distribution.weights.unsqueeze(-1) * distribution.mean).sum(dim=1)
        densest = distribution.log_prob(distribution.mean).argmax(dim=-1)  # the mixture's density at each mean
        return distribution.mean[th.arange(len(densest)), densest]


def record_routing_labels(model: PPOPMOE, rows: dict[str, list[float]]) -> None:
    """Wrap the training step so that it first records the routing labels' statistics on the whole rollout (before
    any update on it, whichever ``gate_gradient`` the model uses)."""
    train = model.train

    def recorded() -> None:
        rollout = next(model.rollout_buffer.get(None))
        with th.no_grad():
            distribution = model.policy.get_distribution(rollout.observations)
            labels, spreads = [], []
            for _ in range(2):  # two independent draws of one action per component
                component_actions, _ = distribution.rsample_each_component()  # type: ignore[attr-defined]
                values = model.aux_q_values(rollout.observations, model._clip_actions(component_actions))
                labels.append(values.argmax(dim=1))
                spreads.append((values.max(dim=1).values - values.min(dim=1).values).mean().item())
            executed = model._clip_actions(rollout.actions).unsqueeze(1)
            fitted = model.aux_q_values(rollout.observations, executed).squeeze(1)
        frequencies = th.bincount(labels[0], minlength=distribution.n_components).float() / len(labels[0])  # type: ignore[attr-defined]
        frequencies = frequencies[frequencies > 0]
        rows["label entropy"].append(float(-(frequencies * frequencies.log()).sum()))
        rows["label agreement"].append(float((labels[0] == labels[1]).float().mean()))
        # What the agreement would be if the labels did not depend on the state: two draws from the histogram.
        rows["agreement without state"].append(float(frequencies.square().sum()))
        rows["Qaux spread"].append(float(np.mean(spreads)))
        rows["Qaux fit RMSE"].append(float((fitted - rollout.returns).square().mean().sqrt()))
        train()

    model.train = recorded  # type: ignore[method-assign]


def diagnose(spec: RunSpec, eval_freq: int, n_eval_episodes: int) -> list[dict[str, float]]:
    """Train one run, evaluating every ``eval_freq`` steps in every mode; one row per evaluation."""
    folder = Path(tempfile.mkdtemp(prefix="sb3-mixture-diagnosis-"))  # RL Zoo's logs of the run
    model, env, eval_env, _, _ = build(spec, folder)
    mixture = isinstance(model.policy.action_dist, GaussianMixture)
    routing: dict[str, list[float]] = defaultdict(list)
    if isinstance(model, PPOPMOE):
        record_routing_labels(model, routing)
    rows: list[dict[str, float]] = []

    def evaluate() -> None:
        row: dict[str, float] = {"steps": model.num_timesteps}
        sync_envs_normalization(env, eval_env)
        for mode in MIXTURE_MODES if mixture else GAUSSIAN_MODES:
            predictor = ModePredictor(model, mode)
            eval_env.seed(10_000 + spec.seed)  # every mode from the same start states
            returns, _ = evaluate_policy(predictor, eval_env, n_eval_episodes, return_episode_rewards=True)
            row[mode] = float(np.mean(returns))
            if mode == "heaviest mean" and mixture:
                heaviest = np.asarray(predictor.heaviest)
                row["largest weight"] = float(np.mean(predictor.largest_weights))
                row["heaviest changes"] = float(np.mean(heaviest[1:] != heaviest[:-1]))
        row.update({name: float(np.mean(values)) for name, values in routing.items()})
        routing.clear()
        rows.append(row)
        print(spec.algo, row, flush=True)

    class Periodic(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_freq < self.training_env.num_envs:
                evaluate()
            return True

    model.learn(spec.budget, callback=Periodic())
    shutil.rmtree(folder, ignore_errors=True)
    return rows


def parse_run(text: str, env_id: str, seed: int) -> RunSpec:
    """``ALGO:BUDGET`` or ``ALGO:BUDGET:NAME=VALUE`` (one YAML hyperparameter replaced, as the runner's --hyperparams)."""
    algo, budget, *override = text.split(":", 2)
    overrides = tuple(tuple(item.split("=", 1)) for item in override)
    return RunSpec(algo, env_id, seed, int(budget), overrides=overrides)  # type: ignore[arg-type]


def cell(row: dict[str, float], name: str) -> str:
    if name not in row:
        return "-"
    return f"{row[name]:.0f}" if name in (*MIXTURE_MODES, "steps") else f"{row[name]:.3f}"


def table(spec: RunSpec, rows: list[dict[str, float]]) -> list[str]:
    columns = list(dict.fromkeys(name for row in rows for name in row if name != "steps"))  # routing: after a rollout
    lines = [
        f"## {spec.algo}, {spec.variant}",
        "",
        "| steps | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for row in rows:
        cells = [cell(row, name) for name in ["steps", *columns]]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", action="append", required=True, help="ALGO:BUDGET[:NAME=VALUE]")
    parser.add_argument("--eval-freq", type=int, default=25_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--out", help="Markdown file for the tables")
    args = parser.parse_args()
    lines = [
        f"# PPO mixtures on {args.env}: evaluation modes and routing labels",
        "",
        f"Seed {args.seed}; mean return of {args.eval_episodes} episodes per mode, every mode from the same start "
        "states. Modes, columns and reading: the script's docstring. Produced by:",
        "",
        "    python " + " ".join(f"'{arg}'" if " " in arg else arg for arg in sys.argv),
        "",
    ]
    for text in args.run:
        spec = parse_run(text, args.env, args.seed)
        lines += table(spec, diagnose(spec, args.eval_freq, args.eval_episodes))
        if args.out:  # after every run: a long diagnosis keeps what it has measured
            with open(args.out, "w") as file:
                file.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
