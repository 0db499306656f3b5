"""
The critics' values of M actions per state, for actor losses: differentiable with respect to the actions only (the
critic's weights and features extractor are constants there).

:func:`min_critic_values` is SAC's minimum over its twin critics; for plain ``Linear``/activation critics it runs
:func:`~sb3_mixture.common.speed.fast_min_critic_values`, the same values and gradient with less work.
:func:`critic_network_outputs` runs any Q-networks on detached parameters (TQC's and CrossQ's actor losses use it).
"""

from collections.abc import Sequence

import torch as th
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn

from sb3_mixture.common.speed import fast_min_critic_values, mlp_layers


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
    fast = fast_min_critic_values(list(q_networks), features, actions)  # the same values and gradient, less work
    if fast is not None:
        return fast
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
