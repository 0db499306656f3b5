"""
Minimum over twin critics evaluated on M actions per state, for actor losses.

The actor's loss needs ``min_c Q_c(s, a_m)`` for ``B * M`` actions and its gradient with respect to the
actions only (the critic's weights are constants here). Plain autograd runs the backward pass through BOTH critics
for every row, though the gradient of a minimum reaches only the critic that attains it. :func:`min_critic_values`
runs the forward pass of both critics and the backward pass of the minimising critic alone, row by row,
which removes a quarter of the matrix products; it also computes the state half of the first layer once
per state instead of once per action. The gradient is exactly autograd's (``tests/test_critic.py``).

Inside a compiled gradient step (``compile=True``) the forward pass is traced as it is and the compiler differentiates
it: the backward's row split has data-dependent shapes, which a graph cannot hold, so there both critics' backward
passes run (masked by the minimum), which costs the products the split saves but none of the calls around it.
Critics that are not plain ``Linear``/activation stacks fall back to autograd on detached weights
(:func:`critic_network_outputs`, which TQC's and CrossQ's actor losses use too).
"""

from collections.abc import Callable, Sequence
from typing import Any

import torch as th
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn
from torch.nn import functional as F

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


def _activation_names(layers: Layers) -> str:
    """The operator's encoding of a stack's activations: one class name per layer, '' for none."""
    return ",".join(type(activation).__name__ if activation is not None else "" for _, activation in layers)


def _activations(names: str) -> list[nn.Module | None]:
    """The activation of each layer from the operator's ``"ReLU,ReLU,"`` encoding ('' for none)."""
    return [_ACTIVATIONS_BY_NAME[name]() if name else None for name in names.split(",")]


def _saved_state(activation: nn.Module | None, pre_activation: th.Tensor, output: th.Tensor) -> th.Tensor:
    """What the backward pass keeps of a layer: its output or its input (see ``ACTIVATION_BACKWARDS``), nothing if linear."""
    if activation is None:
        return output.new_empty(0)
    return output if ACTIVATION_BACKWARDS[type(activation)][0] else pre_activation


def min_twin_critic_forward(
    features: th.Tensor, actions: th.Tensor, weights: list[th.Tensor], biases: list[th.Tensor], activations: str
) -> tuple[th.Tensor, th.Tensor, list[th.Tensor]]:
    """``min_c Q_c`` for ``[B, M, D]`` actions; also the argmin per row and the states the backward pass needs.
    ``weights``/``biases``: every critic's layers, critic after critic; ``activations``: one name per layer."""
    batch_size, n_actions, _ = actions.shape
    layer_activations = _activations(activations)
    n_layers = len(layer_activations)
    features_dim = features.shape[1]
    q_values, saved = [], []
    hidden = features
    for start in range(0, len(weights), n_layers):
        first_weight, first_bias = weights[start], biases[start]
        # [features, action] in: the features part once per state, broadcast over the actions.
        state_part = F.linear(features, first_weight[:, :features_dim], first_bias).unsqueeze(1)
        pre = (state_part + F.linear(actions, first_weight[:, features_dim:])).reshape(batch_size * n_actions, -1)
        for layer, activation in enumerate(layer_activations):
            if layer > 0:
                pre = F.linear(hidden, weights[start + layer], biases[start + layer])
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
    activations: str,
    action_dim: int,
) -> th.Tensor:
    """The actions' gradient: each row back through the critic that attained its minimum, and through that one only."""
    batch_size, n_actions = grad_output.shape
    layer_activations = _activations(activations)
    n_layers = len(layer_activations)
    grad_flat = grad_output.reshape(-1)
    grad_actions = grad_flat.new_zeros(batch_size * n_actions, action_dim)
    for critic_index, start in enumerate(range(0, len(weights), n_layers)):
        rows = (argmin == critic_index).nonzero().squeeze(1)
        if rows.numel() == 0:
            continue
        grad = grad_flat.index_select(0, rows).unsqueeze(1)
        for layer in range(n_layers - 1, -1, -1):
            activation = layer_activations[layer]
            if activation is not None:
                grad = ACTIVATION_BACKWARDS[type(activation)][1](grad, saved[start + layer].index_select(0, rows))
            weight = weights[start + layer]
            if layer == 0:
                # Transposed product: MKL is slow at [R, H] @ [H, D] for a few action columns, fast at [D, H] @ [H, R].
                grad = (weight[:, weight.shape[1] - action_dim :].t() @ grad.t()).t()
            elif weight.shape[0] == 1:
                grad = grad * weight  # an outer product (the Q head): cheaper as a broadcast than as a matrix product
            else:
                grad = grad @ weight
        grad_actions.index_copy_(0, rows, grad)
    return grad_actions.view(batch_size, n_actions, action_dim)


class _EagerMinTwinCritic(th.autograd.Function):
    """:func:`min_twin_critic_forward` with :func:`min_twin_critic_backward` as its backward pass."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, features: th.Tensor, actions: th.Tensor, weights: list[th.Tensor], biases: list[th.Tensor], activations: str
    ) -> th.Tensor:
        min_q, argmin, saved = min_twin_critic_forward(features, actions, weights, biases, activations)
        ctx.save_for_backward(argmin, *saved)
        ctx.weights, ctx.activations, ctx.action_dim = weights, activations, actions.shape[-1]
        return min_q

    @staticmethod
    def backward(ctx: Any, grad_min_q: th.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        argmin, *saved = ctx.saved_tensors
        grad_actions = min_twin_critic_backward(grad_min_q, argmin, saved, ctx.weights, ctx.activations, ctx.action_dim)
        return None, grad_actions, None, None, None


def min_critic_values(
    critic: ContinuousCritic, obs: PyTorchObs, actions: th.Tensor, q_networks: Sequence[nn.Module] | None = None
) -> th.Tensor:
    """
    ``min_c Q_c(s, a_m)`` for M actions per state, shape ``[B, M]``, differentiable with respect to ``actions``
    only: neither the critic's weights nor its features extractor receive a gradient.

    :param critic: SB3 continuous critic
    :param obs: Observations, batch size B
    :param actions: Squashed actions in ``[-1, 1]``, shape ``[B, M, D]``
    :param q_networks: The Q-networks to take the minimum over (default: all of the critic's)
    """
    q_networks = critic.q_networks if q_networks is None else q_networks
    with th.no_grad():
        features = critic.extract_features(obs, critic.features_extractor)
    networks = [mlp_layers(q_net) for q_net in q_networks]
    if all(layers is not None for layers in networks) and len({_activation_names(net) for net in networks}) == 1:  # type: ignore[arg-type]
        layers = [layer for network in networks for layer in network]  # type: ignore[union-attr]
        activations = _activation_names(networks[0])  # type: ignore[arg-type]
        weights = [linear.weight.detach() for linear, _ in layers]
        biases = [linear.bias.detach() for linear, _ in layers]
        if th.compiler.is_compiling():
            # Inside a compiled gradient step: the forward pass itself, which the compiler differentiates and fuses
            # (the operator's row split cannot be traced into the step's graph).
            return min_twin_critic_forward(features, actions, weights, biases, activations)[0]
        return _EagerMinTwinCritic.apply(features, actions, weights, biases, activations)
    return critic_network_outputs(q_networks, features, actions).squeeze(-1).min(dim=-1).values


def critic_network_outputs(networks: Sequence[nn.Module], features: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """
    Every network's output on ``[features, action]`` for M actions per state, shape ``[B, M, n_networks, outputs]``
    (a quantile critic has several outputs), differentiable with respect to ``actions`` only: the networks run on
    detached copies of their parameters (``torch.func.functional_call``, which a compiled step can trace), and their
    buffers (batch-norm statistics) are read, not updated, in evaluation mode.

    :param networks: Q-networks taking ``[features, action]``
    :param features: The critic's features of the B states (detached)
    :param actions: Squashed actions, ``[B, M, D]``
    """
    batch_size, n_actions, _ = actions.shape
    q_input = th.cat([features.unsqueeze(1).expand(-1, n_actions, -1), actions], dim=-1).reshape(batch_size * n_actions, -1)
    outputs = [
        th.func.functional_call(network, _detached_parameters(network), (q_input,), tie_weights=False) for network in networks
    ]
    return th.stack(outputs, dim=1).view(batch_size, n_actions, len(networks), -1)


def _detached_parameters(module: nn.Module, prefix: str = "") -> dict[str, th.Tensor]:
    """Detached copies of ``module``'s parameters by name, read from the modules' own dictionaries: a compiled step may
    not call ``named_parameters`` on a module whose mode it has switched (CrossQ's BatchRenorm layers)."""
    parameters = {prefix + name: param.detach() for name, param in module._parameters.items() if param is not None}
    for child_name, child in module._modules.items():
        if child is not None:
            parameters.update(_detached_parameters(child, f"{prefix}{child_name}."))
    return parameters


def check_compilable_critic(critic: ContinuousCritic, algorithm: str) -> None:
    """Raise a ``ValueError`` when the critic's Q-networks are not plain stacks (``compile=True`` needs the operator)."""
    if not all(mlp_layers(q_net) is not None for q_net in critic.q_networks):
        raise ValueError(
            f"{algorithm}(compile=True) needs Q-networks of Linear layers and element-wise activations with default "
            "arguments (SB3's net_arch and activation_fn); this critic has other modules: use compile=False"
        )
