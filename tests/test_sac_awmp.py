"""SAC-AWMP (Hou et al. 2020, arXiv:2002.02829): the prior's objective, the importance weights, the stored behaviour
density, the update order."""

import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from scipy import stats
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import PyTorchObs
from torch.distributions import Categorical, MixtureSameFamily, Normal, TanhTransform, TransformedDistribution

from sb3_mixture import SACAWMP
from sb3_mixture.sac_awmp import BehaviourReplayBuffer, importance_weights, prior_objective
from sb3_mixture.sac_awmp.buffers import HerBehaviourReplayBuffer
from tests.envs import StampedGoalEnv
from tests.helpers import FAST_KWARGS

if TYPE_CHECKING:
    from sb3_mixture.common.sac_family import Minibatch
    from tests.bandit import BanditPolicy

N_COMPONENTS = 4


def assignment_log_probs(assigned: list[int], confidence: float = 0.97) -> th.Tensor:
    """``log P(h|s_n, a_n)``: probability ``confidence`` on each sample's assigned component, the rest spread evenly."""
    probs = th.full((len(assigned), N_COMPONENTS), (1 - confidence) / (N_COMPONENTS - 1))
    probs[th.arange(len(assigned)), th.tensor(assigned)] = confidence
    return probs.log()


def objective(log_probs: th.Tensor, weights: th.Tensor | None = None) -> th.Tensor:
    weights = th.full((log_probs.shape[0],), 1 / log_probs.shape[0]) if weights is None else weights
    return prior_objective(log_probs, log_probs, weights, information_coef=0.1).loss


def test_information_objective_prefers_confident_balanced_assignments() -> None:
    balanced = assignment_log_probs([0, 1, 2, 3] * 4)
    collapsed = assignment_log_probs([0] * 16)
    uniform = th.full((16, N_COMPONENTS), 1 / N_COMPONENTS).log()
    assert objective(balanced) < objective(uniform)
    assert objective(balanced) < objective(collapsed)
    # The mutual information itself: log K for one-hot balanced assignments, 0 for uniform or collapsed ones.
    one_hot = assignment_log_probs([0, 1, 2, 3] * 4, confidence=1 - 1e-7)
    weights = th.full((16,), 1 / 16)
    assert prior_objective(one_hot, one_hot, weights, 0.1).mutual_information.item() == pytest.approx(math.log(4), abs=1e-4)
    assert prior_objective(uniform, uniform, weights, 0.1).mutual_information.item() == pytest.approx(0.0, abs=1e-6)


def test_importance_weights_shape_the_marginal() -> None:
    """Weight concentrated on the samples of one component makes the same assignments look collapsed."""
    balanced = assignment_log_probs([0, 1, 2, 3] * 4)
    on_component_0 = th.tensor([1.0, 1e-6, 1e-6, 1e-6] * 4)
    assert objective(balanced, on_component_0 / on_component_0.sum()) > objective(balanced)


def test_perturbation_term_is_the_kl() -> None:
    log_probs = assignment_log_probs([0, 1, 2, 3])
    perturbed = assignment_log_probs([1, 1, 2, 3], confidence=0.6)
    expected = (perturbed.exp() * (perturbed - log_probs)).sum(dim=1).mean()
    result = prior_objective(log_probs, perturbed, th.full((4,), 0.25), 0.1)
    th.testing.assert_close(result.perturbation, expected)
    assert result.perturbation > 0


def test_importance_weights_finite_for_extremes() -> None:
    advantages = th.tensor([1e30, -1e30, 0.0, float("inf"), float("-inf"), 3e38, float("nan")])
    log_mu = th.tensor([-1e30, 1e30, 80.0, 0.0, 0.0, -3e38, 0.0])
    weights = importance_weights(advantages, log_mu)
    assert th.isfinite(weights).all() and (weights >= 0).all()
    assert weights.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_importance_weights_are_exp_advantage_over_mu() -> None:
    advantages = th.tensor([0.5, -1.0, 2.0, 0.0], dtype=th.float64)
    log_mu = th.tensor([1.0, -3.0, 0.5, 2.0], dtype=th.float64)
    raw = advantages.exp() / log_mu.exp()
    th.testing.assert_close(importance_weights(advantages, log_mu), raw / raw.sum())


def test_buffer_reads_log_mu_at_the_sampled_transitions() -> None:
    """With several envs the env index is random per sample: log mu must come from the same (step, env) cell."""
    n_envs, buffer_size = 3, 50
    space = gym.spaces.Box(-1, 1, (2,))
    buffer = BehaviourReplayBuffer(buffer_size, space, space, n_envs=n_envs)
    for step in range(80):  # wraps around
        marker = np.array([step * 10.0 + env for env in range(n_envs)], dtype=np.float32)
        buffer.next_behaviour_log_prob = marker
        obs = np.zeros((n_envs, 2), dtype=np.float32)
        buffer.add(obs, obs, np.zeros((n_envs, 2)), marker, np.zeros(n_envs), [{} for _ in range(n_envs)])
    for batch in (buffer.sample_with_log_prob(256), buffer.sample_recent(256, window=5)):
        th.testing.assert_close(batch.behaviour_log_prob, batch.transitions.rewards.squeeze(1))
    recent_steps = buffer.sample_recent(256, window=5).behaviour_log_prob // 10
    assert set(recent_steps.tolist()) == {75.0, 76.0, 77.0, 78.0, 79.0}
    with pytest.raises(RuntimeError, match="next_behaviour_log_prob"):
        buffer.add(obs, obs, np.zeros((n_envs, 2)), marker, np.zeros(n_envs), [{} for _ in range(n_envs)])


def test_her_relabels_the_critics_minibatch_and_not_the_priors() -> None:
    """docs/algorithms/sac_awmp.rst: with HER the critics train on relabelled goals (in the proportion HER asks for, not
    only HER's leading real rows), while the prior's recent minibatch keeps the goal each action was taken for, with the
    log mu stored for it."""
    model = SACAWMP(
        "MultiInputPolicy",
        StampedGoalEnv(),
        **{**FAST_KWARGS, "learning_starts": 40, "batch_size": 64},
        replay_buffer_class=HerReplayBuffer,
        prior_update_interval=20,
        prior_gradient_steps=2,
        prior_window=30,
        seed=0,
    )
    model.learn(100)
    buffer = model.replay_buffer
    assert isinstance(buffer, HerBehaviourReplayBuffer)

    def stored_positions(observations: Any) -> np.ndarray:  # 5 steps an episode, the buffer has not wrapped
        stamps = observations["observation"].numpy().astype(int)
        return 5 * stamps[:, 0] + stamps[:, 1]

    def relabelled_fraction(observations: Any) -> float:
        stored = buffer.observations["desired_goal"][stored_positions(observations), 0]
        return float((observations["desired_goal"].numpy() != stored).any(axis=1).mean())

    minibatch = model._sample_minibatch(64, defaultdict(list))
    assert 0.6 < relabelled_fraction(minibatch.replay_data.observations) < 0.95
    assert 0.6 < relabelled_fraction(minibatch.actor_data.observations) < 0.95
    recent = buffer.sample_recent(64, window=30)
    assert relabelled_fraction(recent.transitions.observations) == 0.0
    positions = stored_positions(recent.transitions.observations)
    assert positions.min() >= buffer.pos - 30
    th.testing.assert_close(recent.behaviour_log_prob, th.as_tensor(buffer.behaviour_log_probs[positions, 0]))


def fast_model(**kwargs) -> SACAWMP:  # type: ignore[no-untyped-def]
    params = dict(prior_update_interval=100, prior_gradient_steps=10, prior_window=200)
    return SACAWMP("MlpPolicy", "Pendulum-v1", **{**FAST_KWARGS, **params, **kwargs}, seed=0)


def invertible_in_float32(actions: th.Tensor) -> th.Tensor:
    """Rows whose action the reference can map back through atanh: the policy's log mu uses the pre-tanh sample, so a
    saturated action (tanh(u) rounds to +-1 in float32, |u| > ~9) has a density the reference cannot recompute from a.
    Most rows must qualify, so the comparison keeps its power."""
    invertible = (actions.abs() < 1 - 1e-3).all(dim=-1)
    assert invertible.float().mean() > 0.9
    return invertible


def test_behaviour_density_is_the_combined_squashed_gaussian() -> None:
    """For a fixed gate rho the action is tanh(N(sum rho m, sum rho^2 s^2)): samples and log mu against torch.distributions."""
    model = fast_model(policy_kwargs=dict(net_arch=[32, 32], behaviour="combined"))
    gate = th.tensor([[0.1, 0.2, 0.3, 0.4]])
    model.policy.gate_log_weights = lambda obs, distribution, deterministic=False: gate.log()  # type: ignore[method-assign]
    model.observation_space.seed(0)
    observation = th.as_tensor(model.observation_space.sample()).unsqueeze(0).repeat(20_000, 1)
    actions, log_mu = model.policy.behaviour_action(observation)
    with th.no_grad():
        distribution = model.actor.get_distribution(observation[:1])
    mean = (gate.unsqueeze(-1) * distribution.mean).sum(dim=1)[0]
    std = (gate.unsqueeze(-1).square() * distribution.log_std.exp().square()).sum(dim=1).sqrt()[0]
    reference = TransformedDistribution(Normal(mean, std), [TanhTransform()])
    invertible = invertible_in_float32(actions)
    th.testing.assert_close(log_mu[invertible], reference.log_prob(actions[invertible]).sum(-1), rtol=1e-4, atol=1e-3)
    pre_tanh = th.atanh(actions.clamp(-1 + 1e-6, 1 - 1e-6)[:, 0]).double().numpy()
    assert stats.kstest(pre_tanh, "norm", args=(mean.item(), std.item())).pvalue > 1e-3


def test_behaviour_is_the_gated_mixture() -> None:
    """The paper's Algorithm 1 line 5: g ~ rho(.|s), a ~ pi_g. Samples and log mu against torch.distributions'
    mixture of the components with weights rho; the deterministic action is the mean of the heaviest component."""
    model = fast_model()
    gate = th.tensor([[0.1, 0.2, 0.3, 0.4]])
    model.policy.gate_log_weights = (  # type: ignore[method-assign]
        lambda obs, distribution, deterministic=False: gate.log().expand(len(obs), -1)
    )
    model.observation_space.seed(0)
    observation = th.as_tensor(model.observation_space.sample()).unsqueeze(0).repeat(20_000, 1)
    actions, log_mu = model.policy.behaviour_action(observation)
    with th.no_grad():
        distribution = model.actor.get_distribution(observation[:1])
    components = Normal(distribution.mean[0, :, 0], distribution.log_std[0, :, 0].exp())
    reference = TransformedDistribution(MixtureSameFamily(Categorical(gate[0]), components), [TanhTransform()])
    invertible = invertible_in_float32(actions)
    th.testing.assert_close(log_mu[invertible], reference.log_prob(actions[invertible][:, 0]), rtol=1e-4, atol=1e-3)
    pre_tanh = th.atanh(actions.clamp(-1 + 1e-6, 1 - 1e-6)[:, 0]).double()
    double_components = Normal(components.loc.double(), components.scale.double())
    reference_cdf = MixtureSameFamily(Categorical(gate[0].double()), double_components).cdf
    assert stats.kstest(pre_tanh.numpy(), lambda x: reference_cdf(th.as_tensor(x)).numpy()).pvalue > 1e-3
    deterministic, _ = model.policy.behaviour_action(observation[:1], deterministic=True)
    th.testing.assert_close(deterministic[0, 0], th.tanh(distribution.mean[0, 3, 0]))


def test_warm_up_actions_store_the_uniform_density() -> None:
    model = fast_model(learning_starts=100)
    model.learn(100)
    stored = model.replay_buffer.behaviour_log_probs[:100, 0]
    np.testing.assert_allclose(stored, -math.log(2.0))  # one action dimension
    model.learn(20, reset_num_timesteps=False)
    assert np.isfinite(model.replay_buffer.behaviour_log_probs[100:120]).all()
    assert not np.allclose(model.replay_buffer.behaviour_log_probs[100:120], -math.log(2.0))


def test_update_order_passes_anomaly_detection_and_prior_trains() -> None:
    model = fast_model()
    with th.autograd.set_detect_anomaly(True):
        model.learn(300)
    logged = model.logger.name_to_value
    assert "train/prior_mutual_information" in logged and "train/value_loss" in logged
    assert 0.0 < logged["train/prior_weights_effective_fraction"] <= 1.0


def test_gate_critic_moves_slowly() -> None:
    """Q_bar follows the critic with tau_q (0.001), much slower than SAC's 0.005."""
    model = fast_model(tau_q=0.0)
    before = [p.detach().clone() for p in model.critic_target.parameters()]
    model.learn(120)
    assert all(th.equal(b, a) for b, a in zip(before, model.critic_target.parameters(), strict=True))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(ent_coef="auto"), "ent_coef must be a fixed float"),
        (dict(action_noise=object()), "action_noise must be None"),
        (dict(replay_buffer_class=ReplayBuffer), "replay_buffer_class must store the behaviour log-density"),
        (dict(prior_batch_size=0), "prior_batch_size must be an integer >= 1"),
        (dict(estimator="mrp"), "estimator parameter is not allowed"),
        (dict(component_loss="combind"), "component_loss must be one of 'combined', 'per_component'"),
        (dict(policy_kwargs=dict(behaviour="mix")), "behaviour must be one of 'mixture', 'combined'"),
    ],
)
def test_bad_parameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SACAWMP("MlpPolicy", "Pendulum-v1", **kwargs)


BANDIT_STATES, BANDIT_ALPHA = 2_000, 0.2
BANDIT_ASSIGNMENT = th.tensor([0.5, 0.3, 0.2], dtype=th.float64)  # the prior's fixed weights h


def awmp_on_the_bandit(monkeypatch: pytest.MonkeyPatch) -> tuple["BanditPolicy", SACAWMP, "Minibatch"]:
    """A 3-component SACAWMP whose components are the 1-D bandit's leaf parameters over identical states, whose critic
    is the bandit's reward and whose prior returns ``BANDIT_ASSIGNMENT`` whatever the action; a minibatch for it."""
    from stable_baselines3.common.type_aliases import ReplayBufferSamples

    import sb3_mixture.sac_awmp.sac_awmp as awmp_module
    from sb3_mixture.common.sac_family import Minibatch
    from tests.bandit import BanditPolicy, q_function

    th.manual_seed(0)
    policy = BanditPolicy.uniform()
    model = fast_model(policy_kwargs=dict(net_arch=[8], n_components=3))
    monkeypatch.setattr(awmp_module, "min_critic_values", lambda critic, observations, actions: q_function(actions))
    log_assignment = BANDIT_ASSIGNMENT.log().expand(BANDIT_STATES, -1)
    monkeypatch.setattr(model.policy.prior, "forward", lambda observations, actions: log_assignment)
    fresh_actions = (th.zeros(BANDIT_STATES, 1), th.zeros(BANDIT_STATES))  # the prior ignores them here
    monkeypatch.setattr(model.policy, "gated_action", lambda observations, distribution: fresh_actions)
    monkeypatch.setattr(model.actor, "get_distribution", lambda observations: policy.distribution(BANDIT_STATES))
    zeros = th.zeros(BANDIT_STATES, 1)
    data = ReplayBufferSamples(zeros, zeros, zeros, zeros, zeros)
    return policy, model, Minibatch(data, 0.99, th.tensor(BANDIT_ALPHA, dtype=th.float64), data)


def gradient_z_scores(loss: Callable[[], th.Tensor], parameters: list[th.Tensor], exact: th.Tensor) -> th.Tensor:
    """z-scores of the mean of 200 sampled gradients of ``loss`` against the exact gradient."""
    from sb3_mixture.diagnostics import flat_gradient

    samples = th.stack([flat_gradient(loss(), parameters) for _ in range(200)])
    return (samples.mean(dim=0) - exact) / (samples.std(dim=0) / 200**0.5).clamp(min=1e-12)


def test_per_component_loss_gradient_matches_quadrature(monkeypatch: pytest.MonkeyPatch) -> None:
    """The components' loss ``-sum_o p_o [Q(s, a_o) - alpha log pi_o(a_o|s) - alpha_g log p_o]`` (``a_o ~ pi_o``
    reparameterized, ``p`` the prior's fixed assignment) is an unbiased gradient of
    ``sum_o p_o E_{pi_o}[alpha log pi_o(a) - Q(a)]`` (quadrature with torch.distributions on the 1-D bandit, Q the
    bandit's reward); a copy that scores each component with the mixture's density is caught."""
    from tests.bandit import q_function, reward

    policy, model, minibatch = awmp_on_the_bandit(monkeypatch)
    alpha, assignment = BANDIT_ALPHA, BANDIT_ASSIGNMENT
    grid = th.linspace(-12.0, 12.0, 200_001, dtype=th.float64)
    components = Normal(policy.mean.view(-1, 1), policy.log_std.exp().view(-1, 1))
    own_log_density_a = components.log_prob(grid) - th.log1p(-(th.tanh(grid) ** 2))
    integrand = components.log_prob(grid).exp() * (alpha * own_log_density_a - reward(th.tanh(grid)))
    objective = (assignment * th.trapezoid(integrand, grid)).sum()
    exact = th.cat([g.flatten() for g in th.autograd.grad(objective, policy.parameters)])

    model.component_loss = "per_component"
    z = gradient_z_scores(lambda: model._actor_loss(minibatch).loss, policy.parameters, exact)
    assert z.abs().max() < 4.5, z

    def mixture_density() -> th.Tensor:
        actions, log_probs = policy.distribution(BANDIT_STATES).rsample_each_component_with_log_prob()
        return -(assignment * (q_function(actions) - alpha * log_probs)).sum(dim=1).mean()

    assert gradient_z_scores(mixture_density, policy.parameters, exact).abs().max() > 10


def test_combined_action_loss_gradient_matches_quadrature(monkeypatch: pytest.MonkeyPatch) -> None:
    """The paper's loss (Eqs. 25-27) ``mean(alpha log pi_h(F) - Q(F))`` at ``F = tanh(sum_i h_i u_i)``, ``u_i ~ pi_i``
    reparameterized, is an unbiased gradient of ``E_{u~N(sum h mean, sum h^2 std^2)}[alpha log pi_h(tanh u) - Q(tanh u)]``
    (quadrature with torch.distributions on the 1-D bandit, ``h`` the prior's fixed weights); the per-component loss
    and a copy with the log-density detached (no entropy gradient) are caught. (Detaching only the density's
    parameters is not a defect: that term's expectation is zero.)"""
    from tests.bandit import reward

    policy, model, minibatch = awmp_on_the_bandit(monkeypatch)
    alpha, h = BANDIT_ALPHA, BANDIT_ASSIGNMENT
    grid = th.linspace(-12.0, 12.0, 200_001, dtype=th.float64)
    combined = Normal((h * policy.mean).sum(), (h.square() * (2 * policy.log_std).exp()).sum().sqrt())
    log_density_a = combined.log_prob(grid) - th.log1p(-(th.tanh(grid) ** 2))
    objective = th.trapezoid(combined.log_prob(grid).exp() * (alpha * log_density_a - reward(th.tanh(grid))), grid)
    exact = th.cat([g.flatten() for g in th.autograd.grad(objective, policy.parameters)])

    assert model.component_loss == "combined"  # the default
    z = gradient_z_scores(lambda: model._actor_loss(minibatch).loss, policy.parameters, exact)
    assert z.abs().max() < 4.5, z

    model.component_loss = "per_component"
    assert gradient_z_scores(lambda: model._actor_loss(minibatch).loss, policy.parameters, exact).abs().max() > 10

    def detached_log_density() -> th.Tensor:  # the entropy term left out of the gradient
        noise = th.randn(BANDIT_STATES, 3, dtype=th.float64)
        u = (h * (policy.mean + policy.log_std.exp() * noise)).sum(dim=1)
        mean, std = (h * policy.mean).sum(), (h.square() * (2 * policy.log_std).exp()).sum().sqrt()
        log_prob = Normal(mean, std).log_prob(u) - th.log1p(-(th.tanh(u) ** 2))
        return (alpha * log_prob.detach() - reward(th.tanh(u))).mean()

    assert gradient_z_scores(detached_log_density, policy.parameters, exact).abs().max() > 10


def test_combined_action_loss_asks_the_prior_at_a_fresh_action() -> None:
    """Algorithm 1 lines 15-16: h = P(.|s, a) with a ~ pi(.|s) drawn now, not the action stored in the buffer."""
    model = fast_model()
    model.learn(60)
    seen: list[th.Tensor] = []
    prior_forward = model.policy.prior.forward

    def recording_prior(obs: PyTorchObs, actions: th.Tensor, noise_std: float = 0.0) -> th.Tensor:
        seen.append(actions)
        return prior_forward(obs, actions, noise_std)

    model.policy.prior.forward = recording_prior  # type: ignore[method-assign]
    fresh = th.full((model.policy_batch_size or 4 * model.batch_size, 1), 0.123)
    model.policy.gated_action = lambda obs, distribution, deterministic=False: (fresh, th.zeros(len(fresh)))  # type: ignore[method-assign]
    minibatch = model._sample_minibatch(model.batch_size, defaultdict(list))
    model._actor_loss(minibatch)
    assert len(seen) == 1 and th.equal(seen[0], fresh)
    assert not th.equal(minibatch.actor_data.actions, fresh)


def test_prior_objective_gradient_matches_torch_distributions() -> None:
    """The prior's loss (Eqs. 5-14) against an independent float64 formula from torch.distributions:
    ``KL(Cat(perturbed) || Cat(clean)) - zeta (H(sum_n w_n P_n) - sum_n w_n H(P_n))``, with the gradient reaching both
    the clean and the perturbed logits as the paper writes it. Copies with the perturbed branch detached (VAT's usual
    constant target) or the authors' flipped marginal-entropy sign are caught."""
    from torch.distributions import kl_divergence

    generator = th.Generator().manual_seed(0)
    clean = th.randn(16, N_COMPONENTS, dtype=th.float64, generator=generator, requires_grad=True)
    perturbed = (clean.detach() + 0.3 * th.randn(16, N_COMPONENTS, dtype=th.float64, generator=generator)).requires_grad_()
    weights = th.softmax(th.randn(16, dtype=th.float64, generator=generator), dim=0)
    zeta = 0.1

    def gradient(loss: th.Tensor) -> th.Tensor:
        return th.cat([g.flatten() for g in th.autograd.grad(loss, [clean, perturbed])])

    def marginal_entropy() -> th.Tensor:
        return Categorical(probs=(weights.unsqueeze(1) * th.softmax(clean, dim=1)).sum(dim=0)).entropy()

    conditional_entropy = (weights * Categorical(logits=clean).entropy()).sum()
    perturbation = kl_divergence(Categorical(logits=perturbed), Categorical(logits=clean)).mean()
    reference = gradient(perturbation - zeta * (marginal_entropy() - conditional_entropy))

    def implemented(perturbed_logits: th.Tensor, information_coef: float = zeta) -> th.Tensor:
        return prior_objective(
            th.log_softmax(clean, dim=1), th.log_softmax(perturbed_logits, dim=1), weights, information_coef
        ).loss

    th.testing.assert_close(gradient(implemented(perturbed)), reference)
    assert not th.allclose(gradient(implemented(perturbed.detach() + 0 * perturbed)), reference, atol=1e-3)
    flipped = implemented(perturbed) + 2 * zeta * marginal_entropy()  # the authors' code's sign of H(h)
    assert not th.allclose(gradient(flipped), reference, atol=1e-3)


def test_the_options_survive_save_and_load(tmp_path: Path) -> None:
    model = fast_model(component_loss="per_component", policy_kwargs=dict(net_arch=[32, 32], behaviour="combined"))
    model.save(tmp_path / "model.zip")
    loaded = SACAWMP.load(tmp_path / "model.zip")
    assert loaded.component_loss == "per_component" and loaded.policy.behaviour == "combined"
    assert SACAWMP.load(tmp_path / "model.zip", component_loss="combined").component_loss == "combined"
