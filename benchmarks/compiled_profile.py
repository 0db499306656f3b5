"""
Where a compiled SAC-family step's time goes on RL Zoo's MuJoCo settings, against SB3's eager SAC: the milliseconds per
environment step in matrix products (``aten::addmm``/``aten::mm``) and in everything else, under ``torch.profiler``,
and the single-thread rate of one 256x256 by 256x256 product in PyTorch and, when JAX is installed, in XLA (the engine
behind SBX's SAC).

    python benchmarks/compiled_profile.py --out benchmarks/results/compiled_profile.md
    python benchmarks/compiled_profile.py --precisions fp32 bf16 --out benchmarks/results/compiled_profile_bf16.md
"""

import argparse
import os
import shlex
import sys
import time
from collections.abc import Callable
from typing import Any

import torch as th
from stable_baselines3 import SAC
from torch.profiler import ProfilerActivity, profile

from sb3_mixture import SACMixture
from sb3_mixture.common import sac_family
from sb3_mixture.common.precision import has_bf16_products

MATRIX_PRODUCTS = ("aten::addmm", "aten::mm", "aten::bmm")
SIZE = 256


def product_rate(multiply: Callable[[], Any], repeats: int = 2000) -> float:
    """GFLOP/s of one SIZE x SIZE by SIZE x SIZE product, timed over ``repeats`` calls after a warm-up."""
    for _ in range(50):
        multiply()
    start = time.perf_counter()
    for _ in range(repeats):
        multiply()
    return 2 * SIZE**3 * repeats / (time.perf_counter() - start) / 1e9


def product_rates() -> dict[str, float]:
    a, b = th.randn(SIZE, SIZE), th.randn(SIZE, SIZE)
    rates = {"PyTorch (torch.mm)": product_rate(lambda: th.mm(a, b))}
    if has_bf16_products(th.device("cpu")):
        a16, b16 = a.bfloat16(), b.bfloat16()
        rates["PyTorch (torch.mm, bf16)"] = product_rate(lambda: th.mm(a16, b16))
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return rates
    ja, jb = jnp.asarray(a.numpy()), jnp.asarray(b.numpy())
    multiply = jax.jit(lambda x, y: x @ y)
    rates["XLA (jax.jit, x @ y)"] = product_rate(lambda: multiply(ja, jb).block_until_ready())
    return rates


def profile_steps(model: Any, steps: int) -> tuple[float, float]:
    """Milliseconds per environment step in total and in matrix products, over ``steps`` steps of ``learn``."""
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        start = time.perf_counter()
        model.learn(steps, reset_num_timesteps=False)
        total = time.perf_counter() - start
    products = sum(event.self_cpu_time_total for event in profiler.key_averages() if event.key in MATRIX_PRODUCTS)
    return 1e3 * total / steps, products / 1e3 / steps


def profiled_compile(function: Any) -> Any:
    """The package's compilation with Inductor's Python wrapper instead of its C++ one, whose direct kernel calls the
    profiler does not see: the same graph and the same products, so the split between products and the rest holds."""
    return th.compile(function, fullgraph=True, dynamic=False, options={"size_asserts": False})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32"])
    parser.add_argument("--note", default="", help="what else ran on the machine")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    th.set_num_threads(1)
    sac_family.compile_function = profiled_compile  # type: ignore[assignment]
    common: dict[str, Any] = dict(learning_starts=100, seed=0, verbose=0)
    models: dict[str, Any] = {"SB3 SAC (eager)": SAC("MlpPolicy", args.env, **common)}
    for precision in args.precisions:
        suffix = ", bf16" if precision == "bf16" else ""
        for n_components in (1, 5):
            policy_kwargs = dict(n_components=n_components)
            models[f"SACMixture K={n_components}, compile{suffix}"] = SACMixture(
                "MlpPolicy", args.env, compile=True, precision=precision, policy_kwargs=policy_kwargs, **common
            )
    lines = [
        f"# Where a compiled step's time goes ({args.env}, RL Zoo's SAC settings)",
        "",
        f"Command: `{shlex.join(['python', *sys.argv])}`; torch {th.__version__}, 1 thread. {args.note} Under "
        "torch.profiler (which slows the step), the compiled steps with Inductor's Python wrapper (the profiler does not "
        "see the C++ wrapper's calls); per environment step, collection included.",
        "",
        "| algorithm | ms per step | of which matrix products, ms | share |",
        "|---|---|---|---|",
    ]
    for name, model in models.items():
        model.learn(400)  # past learning_starts and the compilation
        total, products = profile_steps(model, args.steps)
        lines.append(f"| {name} | {total:.2f} | {products:.2f} | {products / total:.0%} |")
    lines += ["", f"One {SIZE}x{SIZE} by {SIZE}x{SIZE} product, single thread:", "", "| engine | GFLOP/s |", "|---|---|"]
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    lines += [f"| {engine} | {rate:.0f} |" for engine, rate in product_rates().items()]
    markdown = "\n".join(lines) + "\n"
    print(markdown)
    if args.out:
        with open(args.out, "w") as file:
            file.write(markdown)


if __name__ == "__main__":
    main()
