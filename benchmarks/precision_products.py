"""
What ``precision="bf16"`` buys per network size: a critic's forward pass and the gradient of its parameters (the work
of a SAC critic update) in fp32 and with its hidden layers in bf16 (:class:`~sb3_mixture.common.precision.BF16Linear`),
eager and compiled, at each width and batch size; the speed-up is the median of per-round ratios, the two precisions
taking turns in each round. On a CUDA device (``--device cuda``) the same, timed with the device synchronised.

    python benchmarks/precision_products.py --threads 1 --out benchmarks/results/precision_products.md
    python benchmarks/precision_products.py --device cuda --widths 256 1024 2048 --batches 256 1280 4096
"""

import argparse
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch as th
import torch._dynamo
from torch import nn

from sb3_mixture.common.compile import compile_function, whole_step_tracing
from sb3_mixture.common.precision import check_bf16_hardware, set_precision
from sb3_mixture.experiments.provenance import processor


def critic(input_dim: int, width: int, precision: str, device: th.device) -> nn.Module:
    th.manual_seed(0)
    network = nn.Sequential(nn.Linear(input_dim, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))
    set_precision(network, precision)
    return network.to(device)


def update_work(network: nn.Module, batch: th.Tensor, compiled: bool) -> Callable[[], object]:
    """The forward pass and the parameters' gradient of a squared loss; compiled, as one graph with the gradient in it,
    as the SAC family's compiled step is (:func:`~sb3_mixture.common.compile.whole_step_tracing`)."""
    parameters = list(network.parameters())

    def work() -> object:
        return th.autograd.grad(network(batch).square().mean(), parameters)

    if not compiled:
        return work
    graph = compile_function(work)

    def compiled_work() -> object:
        with whole_step_tracing():
            return graph()

    return compiled_work


def seconds_per_call(work: Callable[[], object], calls: int, device: th.device) -> float:
    synchronize = th.cuda.synchronize if device.type == "cuda" else (lambda: None)
    synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        work()
    synchronize()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256, 1024, 2048])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256, 1280])
    parser.add_argument("--input-dim", type=int, default=23, help="observation plus action size (HalfCheetah: 17 + 6)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.5, help="time per candidate per round")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--note", default="", help="what else ran on the machine, for the table's header")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    device = th.device(args.device)
    check_bf16_hardware("bf16", device, "precision_products.py")
    if args.threads:
        th.set_num_threads(args.threads)
    lines = [
        "# bf16 hidden layers against fp32: a critic's update work",
        "",
        f"Command: `python {shlex.join(sys.argv)}`; torch {th.__version__}, {th.get_num_threads()} threads, "
        f"{th.cuda.get_device_name(device) if device.type == 'cuda' else processor()}. "
        f"Critic: {args.input_dim}-W-W-1 with ReLU; work: forward pass and the parameters' gradient. Speed-up: median "
        f"over {args.rounds} rounds of fp32's time over bf16's. {args.note}",
        "",
        "| width | batch | fp32 eager ms | bf16 eager speed-up | fp32 compiled ms | bf16 compiled speed-up |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for width in args.widths:
        for batch_size in args.batches:
            batch = th.randn(batch_size, args.input_dim, device=device)
            row = [str(width), str(batch_size)]
            for compiled in (False, True):
                th._dynamo.reset()  # each setting's two graphs are new versions of one function: under Dynamo's limit
                works = {}
                for precision in ("fp32", "bf16"):
                    works[precision] = update_work(critic(args.input_dim, width, precision, device), batch, compiled)
                    for _ in range(5):  # compile, allocate, warm the caches
                        works[precision]()
                calls = max(3, int(args.seconds / seconds_per_call(works["fp32"], 3, device)))
                times: dict[str, list[float]] = {"fp32": [], "bf16": []}
                for round_index in range(args.rounds):
                    for precision in ("fp32", "bf16") if round_index % 2 == 0 else ("bf16", "fp32"):
                        times[precision].append(seconds_per_call(works[precision], calls, device))
                speed_up = statistics.median(fp32 / bf16 for fp32, bf16 in zip(times["fp32"], times["bf16"], strict=True))
                row += [f"{1e3 * statistics.median(times['fp32']):.3f}", f"{speed_up:.2f}"]
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
