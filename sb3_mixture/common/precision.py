"""
``precision="bf16"``: the hidden layers' matrix products in bfloat16, everything else in float32 (docs/guide/speed.rst).

A hidden layer is a ``Linear`` that its ``nn.Sequential`` follows with something (an activation, a normalisation): the
layers of SB3's ``net_arch`` stacks. Each hidden layer but the first of its stack multiplies in bf16 and hands fp32 on
(:class:`BF16Linear`), so the parameters, their gradients and the optimizer's state stay fp32, the products accumulate
in fp32 (oneDNN's bf16 kernels), and all that lies between products runs in fp32: activations, normalisations, the
output layers, the mixture's log-densities and logsumexp, tanh's log-determinant, the TD target, the losses and their
reductions, alpha and its loss, PPO's ratio.

Two kinds of layer stay fp32. The output layers (Q-values and quantiles, means, log-stds, logits, state values: a
``Linear`` that ends its stack or stands alone): bf16's 8-bit significand would round a Q-value of 500 to a multiple of
2, which the TD error would then carry. And the first layer of each stack, which multiplies the observations and
actions themselves: rounded to bf16, a velocity of 10 moves in steps of 1/16, the same state always to the same
rounded input, and the critic's gradient then differs from fp32's by a bias that does not average out over
minibatches (12% of the mean critic gradient at a trained HalfCheetah state, against 2% with the first layers in fp32:
``benchmarks/results/precision_fidelity.md``). Both are thin products, where bf16 gains least.
"""

import torch as th
from torch import nn
from torch.nn import functional as F

PRECISIONS = ("fp32", "bf16")


def bf16_linear(x: th.Tensor, weight: th.Tensor, bias: th.Tensor | None) -> th.Tensor:
    """``x W^T + b`` multiplied in bf16 from fp32 operands (cast here), fp32 out."""
    bias = None if bias is None else bias.to(th.bfloat16)
    return F.linear(x.to(th.bfloat16), weight.to(th.bfloat16), bias).float()


class BF16Linear(nn.Linear):
    """A ``Linear`` whose product runs in bf16 (:func:`bf16_linear`): fp32 in, fp32 out, fp32 parameters."""

    def forward(self, input: th.Tensor) -> th.Tensor:
        return bf16_linear(input, self.weight, self.bias)


def check_precision(precision: str, algorithm: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else a ``ValueError`` naming them."""
    if precision not in PRECISIONS:
        raise ValueError(f"{algorithm}: precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def has_bf16_products(device: th.device) -> bool:
    """Whether ``device`` multiplies bf16 matrices in hardware: a CPU with AVX512-BF16 or AMX, a GPU with bf16 units.
    (On other CPUs oneDNN emulates bf16, slower than fp32. Having them does not make bf16 faster everywhere: the speed
    guide names a CPU with AVX512-BF16 where fp32 is faster.)"""
    if device.type == "cuda":
        return th.cuda.is_bf16_supported()
    if device.type == "cpu":
        return th.cpu._is_avx512_bf16_supported() or th.cpu._is_amx_tile_supported()
    return False


def check_bf16_hardware(precision: str, device: th.device, algorithm: str) -> None:
    """Raise a ``RuntimeError`` naming what is missing when ``precision="bf16"`` and ``device`` has no bf16 products."""
    if precision == "bf16" and not has_bf16_products(device):
        needs = {
            "cuda": "a GPU with bf16 support (compute capability 8.0 or later)",
            "cpu": "a CPU with AVX512-BF16 or AMX (lscpu flags avx512_bf16, amx_bf16)",
        }.get(device.type, "a CPU or CUDA device")
        raise RuntimeError(
            f"{algorithm}(precision='bf16') needs {needs}; this {device.type} device has none: use precision='fp32'"
        )


def hidden_linear_layers(module: nn.Module) -> list[tuple[nn.Sequential, int]]:
    """Every hidden ``Linear`` of ``module`` (see the module's docstring), as its ``nn.Sequential`` and position there."""
    layers = []
    for sequential in module.modules():
        if isinstance(sequential, nn.Sequential):
            children = list(sequential)
            layers += [(sequential, index) for index, child in enumerate(children[:-1]) if isinstance(child, nn.Linear)]
    return layers


def bf16_layers(module: nn.Module) -> list[tuple[nn.Sequential, int]]:
    """The layers ``precision="bf16"`` multiplies in bf16: the hidden ``Linear`` layers but each stack's first, which
    multiplies the stack's input (see the module's docstring)."""
    layers, stacks = [], set()
    for sequential, index in hidden_linear_layers(module):  # a stack's layers come in order: its first comes first
        if id(sequential) in stacks:
            layers.append((sequential, index))
        stacks.add(id(sequential))
    return layers


def set_precision(module: nn.Module, precision: str) -> None:
    """Make ``module``'s hidden layers multiply in ``precision``, in place: each keeps its identity and parameters (only
    its class changes, between ``nn.Linear`` and :class:`BF16Linear`), so optimizers, state-dict keys and saved models
    are unchanged, and a loaded model can switch either way."""
    in_bf16 = {id(sequential[index]) for sequential, index in bf16_layers(module)} if precision == "bf16" else set()
    for sequential, index in hidden_linear_layers(module):
        linear = sequential[index]
        if type(linear) in (nn.Linear, BF16Linear):  # a subclass of Linear with a forward of its own is left alone
            linear.__class__ = BF16Linear if id(linear) in in_bf16 else nn.Linear
