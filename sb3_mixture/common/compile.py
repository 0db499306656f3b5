"""
``compile=True``: the training step as ``torch.compile`` graphs (docs/guide/speed.rst).

The SAC family compiles its whole gradient step (every loss, its gradient and its Adam update, the target update) as
one graph traced with ``fullgraph=True``, so a graph break is an error, never a silent slowdown: the gradients come
from ``torch.autograd.grad``, which Dynamo traces with ``trace_autograd_ops`` (:func:`whole_step_tracing`), and the
updates from :func:`adam_update`, Adam written in tensor operations. PPO compiles its policy's forward passes.

The learning rate is held in a tensor that the schedule fills in place (a Python float would be a constant of the
graph and recompile it at every change).
"""

import contextlib
import os
import shutil
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import torch as th
import torch._dynamo

Function = TypeVar("Function", bound=Callable[..., Any])


def check_compiler(algorithm: str) -> None:
    """Raise a ``RuntimeError`` naming what is missing when torch.compile's CPU backend has no C++ compiler to call."""
    candidates = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
    if not any(candidate and shutil.which(candidate) for candidate in candidates):
        raise RuntimeError(
            f"{algorithm}(compile=True) needs a C++ compiler for torch.compile's CPU backend (Inductor): none of "
            "$CXX, g++, c++, clang++ was found on PATH. Install one (Debian/Ubuntu: apt install g++) or use compile=False."
        )


def compile_function(function: Function) -> Function:
    """``function`` compiled as one graph: a graph break raises instead of splitting it; shapes are static. Inductor
    writes the graph's calling code in C++ (its Python wrapper costs more than a small network's arithmetic).

    Dynamo keeps compiled graphs on the function's code object, which the bound methods of every model share, and each
    new model recompiles it (its tensors are other objects): past Dynamo's recompile limit a process could compile no
    further model. A method gets a code object of its own here, so each model's graphs live in their own cache."""
    if isinstance(function, types.MethodType):
        method = function.__func__
        code = method.__code__.replace()  # a new code object with the same contents: a cache of its own
        own = types.FunctionType(code, method.__globals__, method.__name__, method.__defaults__, method.__closure__)
        own.__kwdefaults__ = method.__kwdefaults__
        function = types.MethodType(own, function.__self__)  # type: ignore[assignment]
    return th.compile(function, fullgraph=True, dynamic=False, options={"cpp_wrapper": True, "size_asserts": False})  # type: ignore[return-value]


ADAM_CLASSES = (th.optim.Adam, th.optim.AdamW)


@contextlib.contextmanager
def whole_step_tracing() -> Iterator[None]:
    """Let Dynamo trace ``torch.autograd.grad`` (off by default), for the graph of a whole gradient step; the setting is
    read when the graph is traced, so every call of a whole-step graph runs inside this context."""
    config = torch._dynamo.config
    previous = config.trace_autograd_ops
    config.trace_autograd_ops = True  # set and restored by hand: ``config.patch`` costs 30 us per call
    try:
        yield
    finally:
        config.trace_autograd_ops = previous


def check_adam(optimizer: th.optim.Optimizer, algorithm: str) -> None:
    """Raise a ``ValueError`` naming the allowed choices when :func:`adam_update` cannot stand in for ``optimizer``."""
    group = optimizer.param_groups[0]
    if not isinstance(optimizer, ADAM_CLASSES) or group.get("amsgrad") or group.get("maximize"):
        raise ValueError(
            f"{algorithm}(compile=True) compiles the whole gradient step with its own Adam: optimizer_class must be "
            f"torch.optim.Adam or AdamW without amsgrad or maximize, got {type(optimizer).__name__}; use compile=False"
        )


def prepare_adam(optimizer: th.optim.Optimizer) -> None:
    """Give ``optimizer`` the state layout :func:`adam_update` reads and writes (PyTorch's own: ``step``, ``exp_avg``,
    ``exp_avg_sq`` per parameter, as a fused Adam keeps them), created where missing, and a tensor learning rate."""
    for group in optimizer.param_groups:
        if not isinstance(group["lr"], th.Tensor):
            group["lr"] = th.tensor(float(group["lr"]))
        for param in group["params"]:
            state = optimizer.state[param]
            if not state:
                state["step"] = th.zeros((), dtype=th.float32, device=param.device)
                state["exp_avg"] = th.zeros_like(param, memory_format=th.preserve_format)
                state["exp_avg_sq"] = th.zeros_like(param, memory_format=th.preserve_format)


def adam_update(optimizer: th.optim.Optimizer, gradients: Sequence[th.Tensor | None]) -> None:
    """One step of ``optimizer`` (Adam or AdamW, prepared by :func:`prepare_adam`) with ``gradients``, written in tensor
    operations so that it traces into a graph: PyTorch's single-tensor Adam, the same state and the same arithmetic
    (``tests/test_compile.py`` compares the parameters with eager's fused Adam). A parameter without a gradient (None:
    the loss does not reach it) is left alone, state included, as ``Optimizer.step`` leaves one whose ``.grad`` is None."""
    decoupled = isinstance(optimizer, th.optim.AdamW)
    params = [param for group in optimizer.param_groups for param in group["params"]]
    groups = [group for group in optimizer.param_groups for _ in group["params"]]
    with th.no_grad():
        for param, raw_gradient, group in zip(params, gradients, groups, strict=True):
            if raw_gradient is None:
                continue
            state, (beta1, beta2) = optimizer.state[param], group["betas"]
            lr, weight_decay = group["lr"], group["weight_decay"]
            gradient = raw_gradient
            if weight_decay != 0:
                if decoupled:
                    param.mul_(1 - lr * weight_decay)
                else:
                    gradient = raw_gradient.add(param, alpha=weight_decay)
            step = state["step"]
            step.add_(1)
            state["exp_avg"].lerp_(gradient, 1 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)
            denominator = (state["exp_avg_sq"].sqrt() / (1 - beta2**step).sqrt()).add_(group["eps"])
            param.sub_(lr / (1 - beta1**step) * state["exp_avg"] / denominator)


def optimizer_parameters(optimizer: th.optim.Optimizer) -> list[th.Tensor]:
    return [param for group in optimizer.param_groups for param in group["params"]]


def set_learning_rate(optimizers: Iterable[th.optim.Optimizer], learning_rate: float) -> None:
    """Set every parameter group's learning rate, in place where it is a tensor (a compiled step reads that tensor)."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            if isinstance(group["lr"], th.Tensor):
                group["lr"].fill_(learning_rate)
            else:
                group["lr"] = learning_rate


def polyak_update(params: list[th.Tensor], target_params: list[th.Tensor], tau: float) -> None:
    """SB3's ``polyak_update`` (``target <- (1 - tau) target + tau param``, the same operations in the same order) as
    two ``torch._foreach`` kernels instead of two kernels per tensor; ``tau == 1`` copies."""
    if not params:
        return
    with th.no_grad():
        if tau == 1.0:
            th._foreach_copy_(target_params, params)
        else:
            th._foreach_mul_(target_params, 1.0 - tau)
            th._foreach_add_(target_params, params, alpha=tau)
