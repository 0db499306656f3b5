"""
Minimum over twin critics evaluated on M actions per state, for actor losses.

The actor's loss needs ``min_c Q_c(s, a_m)`` for ``B * M`` actions and its gradient with respect to the
actions only (the critic is frozen). Plain autograd runs the backward pass through BOTH critics for every
row, though the gradient of a minimum reaches only the critic that attains it. :func:`min_critic_values`
runs the forward pass of both critics and the backward pass of the minimising critic alone, row by row,
which removes a quarter of the matrix products; it also computes the state half of the first layer once
per state instead of once per action. The gradient is exactly autograd's (``tests/test_critic.py``).
Critics that are not plain ``Linear``/activation stacks fall back to autograd.
"""

from typing import Any

import torch as th
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn
from torch.nn import functional as F

# Element-wise activations (SB3's ``activation_fn`` choices): their derivative at a row depends on that row only.
ELEMENTWISE_ACTIVATIONS = (
    nn.ReLU,
    nn.Tanh,
    nn.ELU,
    nn.LeakyReLU,
    nn.SiLU,
    nn.GELU,
    nn.Sigmoid,
    nn.Softplus,
    nn.Mish,
    nn.SELU,
    nn.CELU,
    nn.ReLU6,
    nn.Hardtanh,
)

Layers = list[tuple[nn.Linear, nn.Module | None]]


def mlp_layers(network: nn.Module) -> Layers | None:
    """``network`` as (Linear, activation or None) pairs, or None if it is not such a stack."""
    if not isinstance(network, nn.Sequential):
        return None
    layers: Layers = []
    for module in network:
        if isinstance(module, nn.Linear):
            layers.append((module, None))
        elif isinstance(module, ELEMENTWISE_ACTIVATIONS) and layers and layers[-1][1] is None:
            layers[-1] = (layers[-1][0], module)
        else:
            return None
    return layers or None


def _activate(activation: nn.Module | None, pre_activation: th.Tensor) -> th.Tensor:
    if activation is None:
        return pre_activation
    if isinstance(activation, nn.ReLU):
        # In place: ReLU's derivative is read from its output (positive exactly where the input was).
        return pre_activation.clamp_min_(0.0)
    return activation(pre_activation)


def _backward_state(activation: nn.Module | None, pre_activation: th.Tensor, output: th.Tensor) -> th.Tensor:
    """What the backward pass keeps of a layer: ReLU's boolean mask (a quarter of the memory to gather), else its input."""
    return output > 0 if isinstance(activation, nn.ReLU) else pre_activation


def _activation_backward(activation: nn.Module, saved: th.Tensor, grad: th.Tensor) -> th.Tensor:
    """Vector-Jacobian product of an element-wise activation, from what :func:`_backward_state` kept."""
    if isinstance(activation, nn.ReLU):
        return grad * saved
    with th.enable_grad():
        pre_activation = saved.detach().requires_grad_(True)
        return th.autograd.grad(activation(pre_activation), pre_activation, grad)[0]


class _MinTwinCritic(th.autograd.Function):
    """``min_c Q_c`` over critics given as layer lists; differentiable with respect to the actions only."""

    @staticmethod
    def forward(ctx: Any, actions: th.Tensor, features: th.Tensor, networks: list[Layers]) -> th.Tensor:  # type: ignore[override]
        batch_size, n_actions, _ = actions.shape
        features_dim = features.shape[1]
        q_values, saved = [], []
        for layers in networks:
            first, first_activation = layers[0]
            # [features, action] in: the features part once per state, broadcast over the actions.
            state_part = F.linear(features, first.weight[:, :features_dim], first.bias).unsqueeze(1)
            pre = (state_part + F.linear(actions, first.weight[:, features_dim:])).reshape(batch_size * n_actions, -1)
            hidden = _activate(first_activation, pre)
            backward_states = [_backward_state(first_activation, pre, hidden)]
            for linear, activation in layers[1:]:
                pre = F.linear(hidden, linear.weight, linear.bias)
                hidden = _activate(activation, pre)
                backward_states.append(_backward_state(activation, pre, hidden))
            q_values.append(hidden)
            saved.append(backward_states)
        min_q, argmin = th.cat(q_values, dim=1).min(dim=1)
        ctx.networks, ctx.saved_states, ctx.argmin = networks, saved, argmin
        ctx.shape, ctx.features_dim = actions.shape, features_dim
        return min_q.view(batch_size, n_actions)

    @staticmethod
    def backward(ctx: Any, grad_output: th.Tensor) -> tuple[th.Tensor, None, None]:  # type: ignore[override]
        batch_size, n_actions, action_dim = ctx.shape
        grad_flat = grad_output.reshape(-1)
        grad_actions = grad_flat.new_zeros(batch_size * n_actions, action_dim)
        for critic_index, (layers, saved_states) in enumerate(zip(ctx.networks, ctx.saved_states, strict=True)):
            rows = (ctx.argmin == critic_index).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            grad = grad_flat[rows].unsqueeze(1)
            for index in range(len(layers) - 1, -1, -1):
                linear, activation = layers[index]
                if activation is not None:
                    grad = _activation_backward(activation, saved_states[index][rows], grad)
                weight = linear.weight if index > 0 else linear.weight[:, ctx.features_dim :]
                grad = grad @ weight
            grad_actions[rows] = grad
        return grad_actions.view(batch_size, n_actions, action_dim), None, None


def min_critic_values(critic: ContinuousCritic, obs: PyTorchObs, actions: th.Tensor) -> th.Tensor:
    """
    ``min_c Q_c(s, a_m)`` for M actions per state, shape ``[B, M]``, differentiable with respect to ``actions``
    (not to the critic's weights, which must be frozen, nor to its features).

    :param critic: SB3 continuous critic
    :param obs: Observations, batch size B
    :param actions: Squashed actions in ``[-1, 1]``, shape ``[B, M, D]``
    """
    with th.no_grad():
        features = critic.extract_features(obs, critic.features_extractor)
    networks = [mlp_layers(q_net) for q_net in critic.q_networks]
    frozen = not any(param.requires_grad for q_net in critic.q_networks for param in q_net.parameters())
    if frozen and all(layers is not None for layers in networks):
        return _MinTwinCritic.apply(actions, features, networks)
    batch_size, n_actions, _ = actions.shape
    q_input = th.cat([features.unsqueeze(1).expand(-1, n_actions, -1), actions], dim=-1).reshape(batch_size * n_actions, -1)
    q_values = th.cat([q_net(q_input) for q_net in critic.q_networks], dim=1)
    return q_values.min(dim=1).values.view(batch_size, n_actions)
