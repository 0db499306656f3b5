"""The twin-critic pass used by actor losses: its values and action-gradients are plain autograd's."""

import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn

from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.speed import ELEMENTWISE_ACTIVATIONS, mlp_layers


def make_critic(activation_fn: type[nn.Module], obs_dim: int = 5, action_dim: int = 3) -> ContinuousCritic:
    observation_space = spaces.Box(-1, 1, (obs_dim,))
    return ContinuousCritic(
        observation_space,
        spaces.Box(-1, 1, (action_dim,)),
        net_arch=[32, 16],
        features_extractor=FlattenExtractor(observation_space),
        features_dim=obs_dim,
        activation_fn=activation_fn,
    )


def autograd_reference(critic: ContinuousCritic, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """SB3's own forward on the flattened (state, action) pairs, then the minimum over critics."""
    batch_size, n_actions, _ = actions.shape
    repeated_obs = obs.repeat_interleave(n_actions, dim=0)
    q_values = th.cat(critic(repeated_obs, actions.reshape(batch_size * n_actions, -1)), dim=1)
    return q_values.min(dim=1).values.view(batch_size, n_actions)


@pytest.mark.parametrize("activation_fn", ELEMENTWISE_ACTIVATIONS)
def test_min_critic_values_match_autograd(activation_fn: type[nn.Module]) -> None:
    th.manual_seed(0)
    critic = make_critic(activation_fn)
    obs = th.randn(64, 5)
    actions = (th.rand(64, 4, 3) * 2 - 1).requires_grad_(True)
    weights = th.randn(64, 4)  # a non-uniform upstream gradient
    # Shift the second critic so that each critic is the minimum for about half of the pairs.
    with th.no_grad():
        q_both = th.cat(critic(obs.repeat_interleave(4, dim=0), actions.reshape(256, 3)), dim=1)
        second_critic = critic.q_networks[1]
        assert isinstance(second_critic, nn.Sequential) and isinstance(second_critic[-1], nn.Linear)
        second_critic[-1].bias.add_((q_both[:, 0] - q_both[:, 1]).median())

    expected = autograd_reference(critic, obs, actions)
    (expected_grad,) = th.autograd.grad((weights * expected).sum(), actions)
    values = min_critic_values(critic, obs, actions)
    (grad,) = th.autograd.grad((weights * values).sum(), actions)

    th.testing.assert_close(values, expected, rtol=1e-5, atol=1e-6)
    # At a near-tie of the two critics either gradient is right and rounding decides: compare the others.
    q_both = th.cat(critic(obs.repeat_interleave(4, dim=0), actions.detach().reshape(256, 3)), dim=1)
    clear = ((q_both[:, 0] - q_both[:, 1]).abs() > 1e-4).view(64, 4)
    assert clear.float().mean() > 0.95
    th.testing.assert_close(grad[clear], expected_grad[clear], rtol=1e-5, atol=1e-6)
    # Both critics are the minimum somewhere, so both backward branches ran.
    assert 0.2 < (q_both[:, 0] < q_both[:, 1]).float().mean() < 0.8
    # The critic's weights received nothing.
    assert all(param.grad is None for param in critic.parameters())


def test_unusual_critics_fall_back_to_autograd_without_training_the_critic() -> None:
    th.manual_seed(1)
    critic = make_critic(nn.ReLU)
    q_network = critic.q_networks[0]
    assert isinstance(q_network, nn.Sequential)
    q_network.insert(1, nn.LayerNorm(32))  # not a plain stack: the autograd path
    obs, actions = th.randn(8, 5), th.rand(8, 2, 3, requires_grad=True)
    values = min_critic_values(critic, obs, actions)
    th.testing.assert_close(values, autograd_reference(critic, obs, actions))
    values.sum().backward()
    assert actions.grad is not None and actions.grad.abs().sum() > 0
    assert all(param.grad is None for param in critic.parameters())
    assert all(param.requires_grad for param in critic.parameters())  # unfrozen again afterwards
    assert mlp_layers(nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1))) is None
    assert mlp_layers(nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1))) is None  # not its default
    assert mlp_layers(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))) is not None


def test_compiled_pass_is_the_eager_pass() -> None:
    """Under torch.compile the forward pass is traced and differentiated by the compiler: the same values and action
    gradients as the eager pass with its own backward."""
    th.manual_seed(2)
    critic = make_critic(nn.ReLU)
    obs = th.randn(16, 5)
    actions = (th.rand(16, 3, 3) * 2 - 1).requires_grad_(True)
    weights = th.randn(16, 3)

    def weighted_sum(actions: th.Tensor) -> th.Tensor:
        return (weights * min_critic_values(critic, obs, actions)).sum()

    (eager,) = th.autograd.grad(weighted_sum(actions), actions)
    (compiled,) = th.autograd.grad(th.compile(weighted_sum, fullgraph=True)(actions), actions)
    th.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-6)
