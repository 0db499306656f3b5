"""PMOE: the routing loss drives the gate to the frequency with which each component is best (Theorem 3.1)."""

import torch as th

from sb3_mixture import SACPMOE
from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.pmoe import pmoe_losses

ALPHA = th.tensor(0.1)


def critic(actions: th.Tensor) -> th.Tensor:
    """A fixed 1-D critic: one bump at 0.3."""
    return th.exp(-0.5 * ((actions - 0.3) / 0.4) ** 2).squeeze(-1)


def test_routing_loss_moves_the_weights_to_the_frequency_of_being_best() -> None:
    th.manual_seed(0)
    # Fixed components (no gradient): three experts at different distances from the critic's peak.
    mean = th.tensor([-0.8, 0.2, 0.6]).view(1, 3, 1)
    log_std = th.tensor([-0.5, -1.0, -0.7]).view(1, 3, 1)
    logits = th.zeros(3, requires_grad=True)
    batch_size = 512

    def distribution() -> SquashedGaussianMixture:
        return SquashedGaussianMixture(1, 3).proba_distribution(
            mean.expand(batch_size, -1, -1), log_std.expand(batch_size, -1, -1), logits.expand(batch_size, -1)
        )

    # The empirical frequency with which each component wins argmax_k [Q(a_k) - alpha log pi_k(a_k)].
    with th.no_grad():
        wins = th.zeros(3)
        for _ in range(100):
            d = distribution()
            actions, gaussian_actions = d.rsample_each_component()
            score = critic(actions) - ALPHA * d.own_log_prob_each_component(gaussian_actions)
            wins += th.bincount(score.argmax(dim=1), minlength=3)
        frequency = wins / wins.sum()
    assert frequency.min() > 0.05  # every component is best sometimes: a non-trivial target

    initial_weights = th.softmax(logits, dim=0).detach().clone()
    optimizer = th.optim.Adam([logits], lr=0.05)
    for _ in range(600):
        optimizer.zero_grad()
        pmoe_losses(distribution(), critic, ALPHA).routing.backward()
        optimizer.step()
    weights = th.softmax(logits, dim=0).detach()
    th.testing.assert_close(weights, frequency, atol=0.03, rtol=0)
    assert (weights - frequency).abs().sum() < 0.5 * (initial_weights - frequency).abs().sum()


def test_gate_does_not_train_the_trunk_and_both_modes_run() -> None:
    model = SACPMOE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16]), learning_starts=10, batch_size=8)
    observations = th.as_tensor(model.observation_space.sample()).unsqueeze(0).repeat(8, 1)
    distribution = model.actor.get_distribution(observations)
    th.autograd.backward(distribution.logits.sum())
    assert all(param.grad is None for param in model.actor.latent_pi.parameters())
    assert model.actor.logits.weight.grad is not None
    for mode in ("max", "all"):
        SACPMOE(
            "MlpPolicy", "Pendulum-v1", back_propagation=mode, policy_kwargs=dict(net_arch=[16]), learning_starts=10
        ).learn(30)
