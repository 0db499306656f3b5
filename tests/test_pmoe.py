"""PMOE: the routing loss drives the gate to the frequency with which each component is best (Theorem 3.1)."""

from typing import Any

import torch as th

from sb3_mixture import SACPMOE
from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.utils import frozen
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


def small_sac_pmoe(**kwargs: Any) -> SACPMOE:
    model = SACPMOE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16]), learning_starts=10, seed=0, **kwargs)
    model.learn(40)
    return model


def test_critic_target_takes_the_best_component_as_eq_16() -> None:
    """``max_k [min Q'(s', a'_k) - alpha log pi_k(a'_k|s')]``, recomputed here from the same noise."""
    model = small_sac_pmoe()
    replay_data = model.replay_buffer.sample(32)  # type: ignore[union-attr]
    ent_coef = th.tensor(0.3)
    th.manual_seed(1)
    target = model._target_q_values(replay_data, 0.99, ent_coef)
    th.manual_seed(1)
    with th.no_grad():
        distribution = model.actor.get_distribution(replay_data.next_observations)
        actions, gaussian_actions = distribution.rsample_each_component()
        next_q = th.stack(
            [
                th.cat(model.critic_target(replay_data.next_observations, actions[:, k]), dim=1).min(dim=1).values
                for k in range(4)
            ],
            dim=1,
        )
        soft = next_q - ent_coef * distribution.own_log_prob_each_component(gaussian_actions)
        expected = replay_data.rewards + (1 - replay_data.dones) * 0.99 * soft.max(dim=1, keepdim=True).values
    th.testing.assert_close(target, expected, rtol=1e-5, atol=1e-5)
    # The other choice takes one sampled component, never above the best.
    sampled = small_sac_pmoe(target_component="sampled")
    th.manual_seed(1)
    sampled.actor.load_state_dict(model.actor.state_dict())
    sampled.critic_target.load_state_dict(model.critic_target.state_dict())
    assert (sampled._target_q_values(replay_data, 0.99, ent_coef) <= target + 1e-5).all()


def test_primitive_loss_trains_the_experts_and_routing_loss_the_gate_only() -> None:
    """Which parameters each of PMOE-SAC's two actor losses reaches (Algorithm 1: theta by L_freq, psi by L_pri)."""
    model = small_sac_pmoe()
    observations = model.replay_buffer.sample(32).observations  # type: ignore[union-attr]
    groups = {
        "gate": list(model.actor.logits.parameters()),
        "trunk": list(model.actor.latent_pi.parameters()),
        "experts": [*model.actor.mu.parameters(), *model.actor.log_std.parameters()],
        "critic": [param for q_net in model.critic.q_networks for param in q_net.parameters()],
    }

    def reached(loss_name: str) -> set[str]:
        model.actor.zero_grad(set_to_none=True)
        model.critic.zero_grad(set_to_none=True)
        with frozen(*model.critic.q_networks):
            losses = pmoe_losses(
                model.actor.get_distribution(observations),
                lambda actions: min_critic_values(model.critic, observations, actions),
                ALPHA,
            )
        getattr(losses, loss_name).backward()
        return {name for name, params in groups.items() if any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)}

    assert reached("primitive") == {"trunk", "experts"}
    assert reached("routing") == {"gate"}


def test_bad_target_component_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="target_component must be one of"):
        SACPMOE("MlpPolicy", "Pendulum-v1", target_component="mean")


def test_back_propagation_all_gradient_matches_quadrature() -> None:
    """PMOE's back-propagation-all experts' loss (Eq. 13 with SAC's entropy term, averaged over the K experts) is an
    unbiased gradient of ``(1/K) sum_i E_{pi_i}[alpha log pi_i(a) - Q(a)]`` on the 1-D bandit (quadrature with
    torch.distributions); a copy that scores each expert with the mixture's density instead is caught."""
    from torch.distributions import Normal

    from sb3_mixture.diagnostics import flat_gradient
    from tests.bandit import ALPHA as BANDIT_ALPHA
    from tests.bandit import BanditPolicy, q_function, reward

    th.manual_seed(0)
    policy = BanditPolicy.uniform()
    alpha = th.tensor(BANDIT_ALPHA, dtype=th.float64)
    grid = th.linspace(-12.0, 12.0, 200_001, dtype=th.float64)
    components = Normal(policy.mean.view(-1, 1), policy.log_std.exp().view(-1, 1))
    own_log_density_a = components.log_prob(grid) - th.log1p(-(th.tanh(grid) ** 2))
    integrand = components.log_prob(grid).exp() * (alpha * own_log_density_a - reward(th.tanh(grid)))
    objective = th.trapezoid(integrand, grid).mean()
    exact = th.cat([g.flatten() for g in th.autograd.grad(objective, policy.parameters)])

    def z_scores(loss: object) -> th.Tensor:
        samples = th.stack([flat_gradient(loss(policy.distribution(2_000)), policy.parameters) for _ in range(200)])  # type: ignore[operator]
        return (samples.mean(dim=0) - exact) / (samples.std(dim=0) / 200**0.5).clamp(min=1e-12)

    z = z_scores(lambda distribution: pmoe_losses(distribution, q_function, alpha, back_propagation="all").primitive)
    assert z.abs().max() < 4.5, z

    def mixture_density(distribution: SquashedGaussianMixture) -> th.Tensor:
        actions, log_probs = distribution.rsample_each_component_with_log_prob()
        return (alpha * log_probs - q_function(actions)).mean()

    assert z_scores(mixture_density).abs().max() > 10


def test_back_propagation_max_gradient_matches_a_finite_difference_reference() -> None:
    """PMOE's back-propagation-max loss (Eq. 12: the best expert's SAC loss per state, each expert scored with its own
    density) is a pathwise gradient of ``J = E[min_k (alpha log pi_k(a_k) - Q(a_k))]``, ``a_k ~ pi_k`` independent. No
    closed form: the reference is J's central finite difference, J written here with torch.distributions and
    averaged over 2M common noise draws (independent of the package's backward pass); a copy that scores the best
    expert with detached log-densities is caught."""
    from torch.distributions import Normal

    from sb3_mixture.diagnostics import flat_gradient
    from tests.bandit import ALPHA as BANDIT_ALPHA
    from tests.bandit import BanditPolicy, q_function, reward

    th.manual_seed(0)
    policy = BanditPolicy.uniform()
    alpha = th.tensor(BANDIT_ALPHA, dtype=th.float64)
    noise = th.randn(2_000_000, 3, dtype=th.float64)

    def objective(mean: th.Tensor, log_std: th.Tensor) -> float:
        gaussian_actions = mean + log_std.exp() * noise
        own_log_density = Normal(mean, log_std.exp()).log_prob(gaussian_actions) - th.log1p(-(th.tanh(gaussian_actions) ** 2))
        return float((alpha * own_log_density - reward(th.tanh(gaussian_actions))).min(dim=1).values.mean())

    step = 1e-4
    parameters = th.cat([policy.mean.detach(), policy.log_std.detach()])
    reference = th.zeros(6, dtype=th.float64)
    for index in range(6):
        shift = th.zeros(6, dtype=th.float64)
        shift[index] = step
        plus, minus = parameters + shift, parameters - shift
        reference[index] = (objective(plus[:3], plus[3:]) - objective(minus[:3], minus[3:])) / (2 * step)

    def z_scores(loss: object) -> th.Tensor:
        samples = th.stack([flat_gradient(loss(policy.distribution(2_000)), policy.parameters) for _ in range(200)])  # type: ignore[operator]
        # The reference's own noise: the same estimator over 2M draws, 1/5 of the 400k draws' variance.
        standard_error = samples.std(dim=0) / 200**0.5 * (1 + 400_000 / 2_000_000) ** 0.5
        return (samples.mean(dim=0) - reference) / standard_error.clamp(min=1e-12)

    z = z_scores(lambda distribution: pmoe_losses(distribution, q_function, alpha, back_propagation="max").primitive)
    assert z.abs().max() < 4.5, z

    def detached_log_densities(distribution: SquashedGaussianMixture) -> th.Tensor:
        actions, gaussian_actions = distribution.rsample_each_component()
        objective = alpha * distribution.own_log_prob_each_component(gaussian_actions).detach() - q_function(actions)
        return objective.min(dim=1).values.mean()

    assert z_scores(detached_log_densities).abs().max() > 10


def test_temperature_is_tuned_on_the_best_components_log_density(monkeypatch: Any) -> None:
    """The temperature's loss sees the best component's own log-density at its sample. With Q = 0 the best component
    is the one whose sample has the lowest own log-density (alpha > 0), computed here with torch.distributions."""
    from torch.distributions import Independent, Normal, TanhTransform, TransformedDistribution

    from sb3_mixture.pmoe import sac_pmoe

    model = SACPMOE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8], n_components=3), seed=0)
    monkeypatch.setattr(sac_pmoe, "min_critic_values", lambda critic, obs, actions: th.zeros(actions.shape[:2]))
    observations = th.randn(16, 3)
    distribution = model.actor.get_distribution(observations)
    th.manual_seed(1)
    loss = model._mixture_actor_loss(distribution, observations, th.tensor(0.5))
    th.manual_seed(1)
    actions, _ = distribution.rsample_each_component()
    component = Independent(
        TransformedDistribution(Normal(distribution.mean, distribution.log_std.exp()), TanhTransform(cache_size=1)), 1
    )
    own = component.log_prob(actions.clamp(-1 + 1e-6, 1 - 1e-6))  # [B, K]: each component's density at its sample
    th.testing.assert_close(loss.entropy_log_prob, own.min(dim=1).values.detach(), rtol=1e-4, atol=1e-3)
