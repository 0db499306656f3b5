"""
``compile=True``: the training step's losses and updates as ``torch.compile`` graphs (docs/guide/speed.rst).

A method of the training step declares itself compiled with :func:`compiled_step`, where it is defined.

Each loss (its forward pass; AOTAutograd compiles the backward pass with it) and each parameter update (an optimizer's
step, a Polyak update) is one graph traced with ``fullgraph=True``, so a graph break is an error, never a silent
slowdown. ``loss.backward()`` runs between them: Dynamo can trace neither it nor ``Optimizer.step``'s own wrapper,
which breaks the graph on purpose (PyTorch issue 104053), so the update graphs call the optimizer's undecorated step
under ``no_grad`` instead, with the learning rate held in a tensor that the schedule fills in place (a Python float
would be a constant of the graph and recompile it at every change).
"""

import functools
import inspect
import os
import shutil
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch as th

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
    """``function`` compiled as one graph: a graph break raises instead of splitting it; shapes are static."""
    return th.compile(function, fullgraph=True, dynamic=False)  # type: ignore[return-value]


class _CompiledStep:
    """The descriptor behind :func:`compiled_step`."""

    def __init__(self, function: Callable[..., Any]):
        self.function = function
        functools.update_wrapper(self, function)  # type: ignore[arg-type]  # a descriptor, not a function

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        bound = self.function.__get__(instance, owner)
        if not getattr(instance, "compile", False):
            return bound
        # Keyed by the qualified name: an override and the method it overrides are two graphs.
        cache = instance.__dict__.setdefault("_compiled_functions", {})
        key = self.function.__qualname__
        if key not in cache:
            cache[key] = compile_function(bound)
        return cache[key]


def compiled_step(function: Function) -> Function:
    """Decorator of a training-step method (a loss, a target update): on a model with ``compile=True`` the method runs
    as one graph (:func:`compile_function`), compiled at its first call and kept on the model; otherwise it is the
    method itself. A compiled step must not call another: each is a graph of its own."""
    return _CompiledStep(function)  # type: ignore[return-value]


def _undecorated_step(optimizer: th.optim.Optimizer) -> None:
    with th.no_grad():
        inspect.unwrap(type(optimizer).step)(optimizer)


def compiled_optimizer_step(optimizer: th.optim.Optimizer) -> Callable[[], None]:
    """One compiled graph that applies ``optimizer``'s step to the gradients already in ``.grad``."""
    for group in optimizer.param_groups:
        if not isinstance(group["lr"], th.Tensor):
            group["lr"] = th.tensor(float(group["lr"]))
    return compile_function(functools.partial(_undecorated_step, optimizer))


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
