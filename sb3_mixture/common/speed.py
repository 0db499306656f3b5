"""
Speed-only code: each piece gives the plain path's numbers with less work, and a test pins it to that path, so the
algorithm modules read as the papers' math without it (what each saves: docs/guide/speed.rst).

- :func:`fast_min_critic_values`: the twin-critic minimum of an actor loss with a hand-written backward pass, through
  the minimising critic only (``tests/test_critic.py``: exactly autograd's gradient);
- :class:`ModeFreeSwitchMixin`: ``set_training_mode`` without its walk over every module where no module reads the mode
  (``tests/test_lean_step.py``);
- :class:`DirectActingMixin`: exploration actions from the actor itself rather than through ``predict``'s general
  machinery (``tests/test_lean_step.py``: the same actions);
- :func:`with_fused_adam`: Adam's fused implementation, one kernel for the same update rule (``tests/test_lean_step.py``).

The twin-critic operator: the actor's loss needs ``min_c Q_c(s, a_m)`` for ``B * M`` actions and its gradient with
respect to the actions only. Plain autograd runs the backward pass through both critics for every row, though the
gradient of a minimum reaches only the critic that attains it; the operator runs the backward pass of the minimising
critic alone, row by row (a quarter of the matrix products fewer), and computes the state half of the first layer once
per state instead of once per action. Inside a compiled gradient step its forward pass is traced as it is and the
compiler differentiates it (the row split has data-dependent shapes, which a graph cannot hold).
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.preprocessing import is_image_space
from torch import nn
from torch.nn import functional as F

from sb3_mixture.common.precision import BF16Linear, bf16_linear
from sb3_mixture.common.utils import check_finite_observation

if TYPE_CHECKING:
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

    _OffPolicyBase = OffPolicyAlgorithm  # what DirectActingMixin is mixed into, for the type checker
else:
    _OffPolicyBase = object


aten = th.ops.aten
# Element-wise activations (SB3's ``activation_fn`` choices, default arguments): whether the backward pass reads the
# layer's output (else its input), and the activation's vector-Jacobian product from that tensor. The operator runs
# below autograd, so these are aten's own derivative kernels.
ACTIVATION_BACKWARDS: dict[type[nn.Module], tuple[bool, Callable[[th.Tensor, th.Tensor], th.Tensor]]] = {
    nn.ReLU: (True, lambda grad, output: aten.threshold_backward(grad, output, 0.0)),
    nn.Tanh: (True, aten.tanh_backward),
    nn.Sigmoid: (True, aten.sigmoid_backward),
    nn.ELU: (False, lambda grad, x: aten.elu_backward(grad, 1.0, 1.0, 1.0, False, x)),
    nn.SELU: (False, lambda grad, x: aten.elu_backward(grad, 1.6732632423543772, 1.0507009873554805, 1.0, False, x)),
    nn.CELU: (False, lambda grad, x: aten.elu_backward(grad, 1.0, 1.0, 1.0, False, x)),
    nn.LeakyReLU: (False, lambda grad, x: aten.leaky_relu_backward(grad, x, 0.01, False)),
    nn.SiLU: (False, aten.silu_backward),
    nn.GELU: (False, aten.gelu_backward),
    nn.Softplus: (False, lambda grad, x: aten.softplus_backward(grad, x, 1.0, 20.0)),
    nn.Mish: (False, aten.mish_backward),
    nn.ReLU6: (False, lambda grad, x: aten.hardtanh_backward(grad, x, 0.0, 6.0)),
    nn.Hardtanh: (False, lambda grad, x: aten.hardtanh_backward(grad, x, -1.0, 1.0)),
}
ELEMENTWISE_ACTIVATIONS = tuple(ACTIVATION_BACKWARDS)
_ACTIVATIONS_BY_NAME = {activation.__name__: activation for activation in ELEMENTWISE_ACTIVATIONS}

Layers = list[tuple[nn.Linear, nn.Module | None]]


def _is_default(activation: nn.Module) -> bool:
    """True when ``activation`` is its class with default arguments, so that its name rebuilds it exactly."""
    return repr(activation) == repr(type(activation)())


def mlp_layers(network: nn.Module) -> Layers | None:
    """``network`` as (Linear, activation or None) pairs, or None if it is not such a stack."""
    if not isinstance(network, nn.Sequential):
        return None
    layers: Layers = []
    for module in network:
        if isinstance(module, nn.Linear) and module.bias is not None:
            layers.append((module, None))
        elif isinstance(module, ELEMENTWISE_ACTIVATIONS) and _is_default(module) and layers and layers[-1][1] is None:
            layers[-1] = (layers[-1][0], module)
        else:
            return None
    return layers or None


def _layer_specs(layers: Layers) -> str:
    """The operator's encoding of a stack: per layer, its activation's class name ('' for none) and its product's
    precision (:class:`BF16Linear`'s bf16, else fp32), e.g. ``"ReLU/bf16,ReLU/bf16,/fp32"``."""
    return ",".join(
        f"{type(activation).__name__ if activation is not None else ''}/{'bf16' if isinstance(linear, BF16Linear) else 'fp32'}"
        for linear, activation in layers
    )


def _decode_layers(specs: str) -> list[tuple[nn.Module | None, str]]:
    """Each layer's activation (None for none) and product precision from :func:`_layer_specs`'s encoding."""
    layers = [spec.split("/") for spec in specs.split(",")]
    return [(_ACTIVATIONS_BY_NAME[name]() if name else None, precision) for name, precision in layers]


def _product(x: th.Tensor, weight: th.Tensor, bias: th.Tensor | None, precision: str) -> th.Tensor:
    """``x W^T + b`` in ``precision``, fp32 out (:class:`BF16Linear`'s product on detached parameters)."""
    return bf16_linear(x, weight, bias) if precision == "bf16" else F.linear(x, weight, bias)


def _matmul(a: th.Tensor, b: th.Tensor, precision: str) -> th.Tensor:
    """``a @ b`` in ``precision``, fp32 out."""
    return (a.to(th.bfloat16) @ b.to(th.bfloat16)).float() if precision == "bf16" else a @ b


def _saved_state(activation: nn.Module | None, pre_activation: th.Tensor, output: th.Tensor) -> th.Tensor:
    """What the backward pass keeps of a layer: its output or its input (see ``ACTIVATION_BACKWARDS``), nothing if linear."""
    if activation is None:
        return output.new_empty(0)
    return output if ACTIVATION_BACKWARDS[type(activation)][0] else pre_activation


def min_twin_critic_forward(
    features: th.Tensor,
    actions: th.Tensor,
    weights: list[th.Tensor],
    biases: list[th.Tensor],
    specs: str,
) -> tuple[th.Tensor, th.Tensor, list[th.Tensor]]:
    """``min_c Q_c`` for ``[B, M, D]`` actions; also the argmin per row and the states the backward pass needs.
    ``weights``/``biases``: every critic's layers, critic after critic; ``specs``: each layer's activation and
    precision (:func:`_layer_specs`)."""
    batch_size, n_actions, _ = actions.shape
    layers = _decode_layers(specs)
    n_layers = len(layers)
    features_dim = features.shape[1]
    q_values, saved = [], []
    hidden = features
    for start in range(0, len(weights), n_layers):
        first_weight, first_bias = weights[start], biases[start]
        # [features, action] in: the features part once per state, broadcast over the actions.
        first_precision = layers[0][1]
        state_part = _product(features, first_weight[:, :features_dim], first_bias, first_precision).unsqueeze(1)
        action_part = _product(actions, first_weight[:, features_dim:], None, first_precision)
        pre = (state_part + action_part).reshape(batch_size * n_actions, -1)
        for layer, (activation, precision) in enumerate(layers):
            if layer > 0:
                pre = _product(hidden, weights[start + layer], biases[start + layer], precision)
            # ReLU in place: its derivative is read from its output.
            hidden = pre.clamp_min_(0.0) if isinstance(activation, nn.ReLU) else pre if activation is None else activation(pre)
            saved.append(_saved_state(activation, pre, hidden))
        q_values.append(hidden)
    min_q, argmin = th.cat(q_values, dim=1).min(dim=1)
    return min_q.view(batch_size, n_actions), argmin, saved


def min_twin_critic_backward(
    grad_output: th.Tensor,
    argmin: th.Tensor,
    saved: list[th.Tensor],
    weights: list[th.Tensor],
    specs: str,
    action_dim: int,
) -> th.Tensor:
    """The actions' gradient: each row back through the critic that attained its minimum, and through that one only."""
    batch_size, n_actions = grad_output.shape
    layers = _decode_layers(specs)
    n_layers = len(layers)
    grad_flat = grad_output.reshape(-1)
    grad_actions = grad_flat.new_zeros(batch_size * n_actions, action_dim)
    for critic_index, start in enumerate(range(0, len(weights), n_layers)):
        rows = (argmin == critic_index).nonzero().squeeze(1)
        if rows.numel() == 0:
            continue
        grad = grad_flat.index_select(0, rows).unsqueeze(1)
        for layer in range(n_layers - 1, -1, -1):
            activation, precision = layers[layer]
            if activation is not None:
                grad = ACTIVATION_BACKWARDS[type(activation)][1](grad, saved[start + layer].index_select(0, rows))
            weight = weights[start + layer]
            if layer == 0:
                # Transposed product: MKL is slow at [R, H] @ [H, D] for a few action columns, fast at [D, H] @ [H, R].
                grad = _matmul(weight[:, weight.shape[1] - action_dim :].t(), grad.t(), precision).t()
            elif weight.shape[0] == 1:
                grad = grad * weight  # an outer product (the Q head): cheaper as a broadcast than as a matrix product
            else:
                grad = _matmul(grad, weight, precision)
        grad_actions.index_copy_(0, rows, grad)
    return grad_actions.view(batch_size, n_actions, action_dim)


class _EagerMinTwinCritic(th.autograd.Function):
    """:func:`min_twin_critic_forward` with :func:`min_twin_critic_backward` as its backward pass."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        features: th.Tensor,
        actions: th.Tensor,
        weights: list[th.Tensor],
        biases: list[th.Tensor],
        specs: str,
    ) -> th.Tensor:
        min_q, argmin, saved = min_twin_critic_forward(features, actions, weights, biases, specs)
        ctx.save_for_backward(argmin, *saved)
        ctx.weights, ctx.specs, ctx.action_dim = weights, specs, actions.shape[-1]
        return min_q

    @staticmethod
    def backward(ctx: Any, grad_min_q: th.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        argmin, *saved = ctx.saved_tensors
        grad_actions = min_twin_critic_backward(grad_min_q, argmin, saved, ctx.weights, ctx.specs, ctx.action_dim)
        return None, grad_actions, None, None, None


def fast_min_critic_values(q_networks: list[nn.Module], features: th.Tensor, actions: th.Tensor) -> th.Tensor | None:
    """``min_c Q_c`` of ``[B, M, D]`` actions, ``[B, M]``, by the operator (differentiable with respect to the actions
    only), or None when the Q-networks are not plain ``Linear``/activation stacks with the same activations and
    precisions."""
    networks = [mlp_layers(q_net) for q_net in q_networks]
    if not all(layers is not None for layers in networks) or len({_layer_specs(net) for net in networks}) != 1:  # type: ignore[arg-type]
        return None
    specs = _layer_specs(networks[0])  # type: ignore[arg-type]
    layers = [layer for network in networks for layer in network]  # type: ignore[union-attr]
    weights = [linear.weight.detach() for linear, _ in layers]
    biases = [linear.bias.detach() for linear, _ in layers]
    if th.compiler.is_compiling():
        # Inside a compiled gradient step: the forward pass itself, which the compiler differentiates and fuses.
        return min_twin_critic_forward(features, actions, weights, biases, specs)[0]
    return _EagerMinTwinCritic.apply(features, actions, weights, biases, specs)


# Modules whose forward pass does not read ``self.training``: PyTorch's layers without dropout or normalisation, and
# SB3's and this package's networks, which are built from them.
_MODE_FREE_TYPES = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.Sequential,
    nn.ModuleList,
    nn.ModuleDict,
    *ELEMENTWISE_ACTIVATIONS,
)
_MODE_FREE_PACKAGES = ("stable_baselines3.", "sb3_mixture.")


def is_mode_free(module: nn.Module) -> bool:
    """True when no submodule of ``module`` behaves differently in training and evaluation mode (no dropout, no batch
    norm, no module of unknown kind)."""
    return all(
        type(sub) in _MODE_FREE_TYPES or type(sub).__module__.startswith(_MODE_FREE_PACKAGES) for sub in module.modules()
    )


class ModeFreeSwitchMixin:
    """Put before an SB3 policy class: ``set_training_mode`` only records the mode when no submodule reads it. SB3
    switches the mode before every action and every gradient step, a walk over every module each time (its cost:
    docs/guide/speed.rst)."""

    _mode_free: bool | None = None

    def set_training_mode(self, mode: bool) -> None:
        if self._mode_free is None:  # decided once the networks are built (the first switch comes after that)
            self._mode_free = is_mode_free(self)  # type: ignore[arg-type]
        if self._mode_free:
            self.training = mode
        else:
            super().set_training_mode(mode)  # type: ignore[misc]


def with_fused_adam(optimizer_class: type[th.optim.Optimizer], optimizer_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """``optimizer_kwargs`` with ``fused=True`` added for Adam/AdamW when the user chose no implementation."""
    optimizer_kwargs = dict(optimizer_kwargs or {})
    if optimizer_class in (th.optim.Adam, th.optim.AdamW) and not {"fused", "foreach"} & optimizer_kwargs.keys():
        optimizer_kwargs["fused"] = True
    return optimizer_kwargs


class DirectActingMixin(_OffPolicyBase):
    """Put before an SB3 off-policy algorithm class with an ``actor`` (the SAC family): see :meth:`_sample_action`."""

    actor: Any

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """SB3's, with the exploration action computed directly by the actor for vector observations instead of through
        ``predict``'s general machinery (its checks and conversions cost more than the 64x64 actor itself): the same
        action, the same arithmetic on it."""
        space = self.observation_space
        if self.num_timesteps < learning_starts or not isinstance(space, spaces.Box) or is_image_space(space):
            return super()._sample_action(learning_starts, action_noise, n_envs)
        observation = self._last_obs
        assert isinstance(observation, np.ndarray) and isinstance(self.action_space, spaces.Box)
        check_finite_observation(observation)
        self.policy.set_training_mode(False)
        with th.no_grad():
            actions = self.actor(th.as_tensor(observation.reshape((-1, *space.shape)), device=self.device))
        unscaled_action = self.policy.unscale_action(actions.cpu().numpy().reshape((-1, *self.action_space.shape)))
        scaled_action = self.policy.scale_action(unscaled_action)
        if action_noise is not None:
            scaled_action = np.clip(scaled_action + action_noise(), -1, 1)
        return self.policy.unscale_action(scaled_action), scaled_action
