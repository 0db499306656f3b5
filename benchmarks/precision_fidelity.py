"""
How far ``precision="bf16"`` moves one SAC-family gradient step, at a trained state: for a saved model with its replay
buffer (a runner checkpoint), the critic's and the actor's loss gradients on the same minibatch and the same noise,
with every hidden layer in fp32 and with the hidden layers of chosen networks in bf16; beside them, how far the fp32
gradient moves between two minibatches (the step's own noise), and the TD target's and Q-values' bf16 error.

    python benchmarks/precision_fidelity.py --model RUN.checkpoint/model.zip --buffer RUN.checkpoint/replay_buffer.pkl \\
        --out benchmarks/results/precision_fidelity.md
"""

import argparse
import platform
import shlex
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import torch as th

from sb3_mixture.common.precision import BF16Linear, hidden_linear_layers, set_precision
from sb3_mixture.experiments.building import algorithm_classes

NETWORKS = {
    "every network's": ("actor", "critic", "critic_target"),
    "the critics'": ("critic", "critic_target"),
    "the actor's": ("actor",),
}
# Which layers multiply in bf16: precision="bf16" (each stack's first layer in fp32), or every hidden layer of some
# networks, the first included (their inputs, the observations and actions, rounded to bf16).
VARIANTS = ["precision=bf16 (first layers fp32)", *(f"{networks} hidden layers bf16, inputs rounded" for networks in NETWORKS)]


def set_variant(model: object, variant: str) -> None:
    networks = [getattr(model, name) for name in NETWORKS["every network's"]]
    for network in networks:
        set_precision(network, "bf16" if variant.startswith("precision=bf16") else "fp32")
    for prefix, names in NETWORKS.items():
        if variant.startswith(f"{prefix} hidden"):
            for name in names:
                for sequential, index in hidden_linear_layers(getattr(model, name)):
                    sequential[index].__class__ = BF16Linear


def gradients(model: object, minibatch: object, noise_seed: int) -> dict[str, th.Tensor]:
    """The critic loss's gradient of the critic's parameters and the actor loss's of the actor's, flattened, with the
    actor's sampling noise fixed by ``noise_seed``; and the TD target and current Q-values."""
    out: dict[str, th.Tensor] = {}
    critic_parameters = [p for p in model.critic.parameters() if p.requires_grad]  # type: ignore[attr-defined]
    actor_parameters = [p for p in model.actor.parameters() if p.requires_grad]  # type: ignore[attr-defined]
    th.manual_seed(noise_seed)
    replay = minibatch.replay_data  # type: ignore[attr-defined]
    target = model._target_q_values(replay, minibatch.discounts, minibatch.ent_coef)  # type: ignore[attr-defined]
    current = th.cat(model.critic(replay.observations, replay.actions), dim=1)  # type: ignore[attr-defined]
    out["target"], out["q"] = target.detach().flatten(), current.detach().flatten()
    th.manual_seed(noise_seed)
    loss = model._critic_loss(minibatch)  # type: ignore[attr-defined]
    out["critic"] = th.cat([g.flatten() for g in th.autograd.grad(loss, critic_parameters)])
    th.manual_seed(noise_seed + 1)
    actor_loss = model._actor_loss(minibatch).loss  # type: ignore[attr-defined]
    out["actor"] = th.cat([g.flatten() for g in th.autograd.grad(actor_loss, actor_parameters, allow_unused=True)])
    return out


def cosine(a: th.Tensor, b: th.Tensor) -> float:
    return float(th.nn.functional.cosine_similarity(a, b, dim=0))


def relative_error(a: th.Tensor, reference: th.Tensor) -> float:
    return float((a - reference).norm() / reference.norm())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--buffer", type=Path, required=True)
    parser.add_argument("--algo", default="sac_mrp")
    parser.add_argument("--minibatches", type=int, default=20)
    parser.add_argument("--note", default="", help="where the model comes from, for the header")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    th.set_num_threads(1)
    model = algorithm_classes()[args.algo].load(args.model, compile=False)
    model.load_replay_buffer(args.buffer)
    variants = VARIANTS
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    # Sums over the minibatches of each variant's gradient difference from fp32, and of the fp32 gradients: a bias
    # survives the average, noise shrinks like 1/sqrt(n).
    sums: dict[str, th.Tensor] = {}
    logs: dict[str, list[th.Tensor]] = defaultdict(list)
    previous: dict[str, th.Tensor] | None = None
    for index in range(args.minibatches):
        th.manual_seed(1000 + index)
        minibatch = model._sample_minibatch(model.batch_size, logs)
        set_variant(model, "fp32")
        reference = gradients(model, minibatch, index)
        if previous is not None:  # the step's own noise: the fp32 gradient of the previous minibatch against this one
            for part in ("critic", "actor"):
                rows["fp32, another minibatch"][f"{part} cos"].append(cosine(previous[part], reference[part]))
                rows["fp32, another minibatch"][f"{part} rel"].append(relative_error(previous[part], reference[part]))
        previous = reference
        for variant in variants:
            set_variant(model, variant)
            result = gradients(model, minibatch, index)
            for part in ("critic", "actor"):
                difference = result[part] - reference[part]
                sums[f"{variant} {part}"] = sums.get(f"{variant} {part}", th.zeros_like(difference)) + difference
                rows[variant][f"{part} cos"].append(cosine(result[part], reference[part]))
                rows[variant][f"{part} rel"].append(relative_error(result[part], reference[part]))
            rows[variant]["target err"].append(float((result["target"] - reference["target"]).abs().mean()))
            rows[variant]["target bias"].append(float((result["target"] - reference["target"]).mean()))
            rows[variant]["q err"].append(float((result["q"] - reference["q"]).abs().mean()))
        rows["fp32"]["|target|"].append(float(reference["target"].abs().mean()))
        for part in ("critic", "actor"):
            sums[f"fp32 {part}"] = sums.get(f"fp32 {part}", th.zeros_like(reference[part])) + reference[part]
            rows["fp32"][f"|{part}|"].append(float(reference[part].norm()))
    for variant in variants:  # the bias: the mean difference against the mean fp32 gradient (both over the minibatches)
        for part in ("critic", "actor"):
            rows[variant][f"{part} bias"].append(float(sums[f"{variant} {part}"].norm() / sums[f"fp32 {part}"].norm()))
    # What the bias column would read from noise alone: rel/sqrt(n) times the mean gradient norm over the mean's norm.
    noise_scale = {
        part: float(th.tensor(rows["fp32"][f"|{part}|"]).mean() * len(rows["fp32"][f"|{part}|"]) / sums[f"fp32 {part}"].norm())
        for part in ("critic", "actor")
    }
    columns = ["critic cos", "critic rel", "critic bias", "actor cos", "actor rel", "actor bias", "target err"]
    columns += ["target bias", "q err"]
    lines = [
        "# bf16 against fp32 in one gradient step, at a trained state",
        "",
        f"`{shlex.join(['python', *sys.argv])}`",
        "",
        f"{args.minibatches} minibatches of {model.batch_size}; the median over them. cos: cosine similarity with the fp32 "
        "gradient of the same minibatch and noise; rel: the norm of the difference over the fp32 gradient's norm; "
        "bias: the norm of the difference's mean over the minibatches over the norm of the fp32 gradients' mean (what "
        "does not average out over steps; noise alone would give about rel/sqrt(n) of the gradient-to-mean ratio); "
        "target err / bias: the mean absolute / signed difference of the TD target from fp32's; q err: of the critics' "
        f"Q-values. The fp32 TD target's mean magnitude: {statistics.median(rows['fp32']['|target|']):.1f}. Noise alone "
        f"would make the bias column about rel x {noise_scale['critic'] / args.minibatches**0.5:.2f} (critic) and "
        f"rel x {noise_scale['actor'] / args.minibatches**0.5:.2f} (actor). "
        f"Machine: {platform.node()}, torch {th.__version__}. {args.note}",
        "",
        "| hidden layers | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for variant in ["fp32, another minibatch", *variants]:
        cells = [f"{statistics.median(rows[variant][c]):.4g}" if rows[variant][c] else "-" for c in columns]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
