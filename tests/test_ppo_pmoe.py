"""PMOE-PPO: the auxiliary Q fits the returns, the routing loss moves the weights to the best-frequency."""

from typing import Any

import numpy as np
import torch as th
from torch import nn

from sb3_mixture import PPOPMOE


def collected(**kwargs: Any) -> PPOPMOE:
    policy_kwargs = dict(net_arch=[32], n_components=3)
    model = PPOPMOE("MlpPolicy", "Pendulum-v1", n_steps=256, batch_size=64, policy_kwargs=policy_kwargs, seed=0, **kwargs)
    _, callback = model._setup_learn(256, None)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, n_rollout_steps=model.n_steps)  # type: ignore[arg-type]
    return model


def buffer_mse(model: PPOPMOE) -> float:
    rollout = next(model.rollout_buffer.get(256))
    with th.no_grad():
        predicted = model.aux_q_values(rollout.observations, rollout.actions.unsqueeze(1)).squeeze(1)
    return float(((predicted - rollout.returns) ** 2).mean())


def test_auxiliary_q_fits_the_returns() -> None:
    model = collected(routing_learning_rate=3e-3)
    before = buffer_mse(model)
    for _ in range(20):
        model._fit_aux_q()
    assert buffer_mse(model) < 0.5 * before


class LargerActionIsBetter(nn.Module):
    """A fixed auxiliary critic: Q grows with the (1-D) action, the last input column."""

    def forward(self, inputs: th.Tensor) -> th.Tensor:
        return inputs[..., -1:]


def test_routing_moves_the_weights_to_the_frequency_of_being_best() -> None:
    model = collected(routing_learning_rate=3e-3)
    model.aux_q = LargerActionIsBetter()
    with th.no_grad():
        mean_head = model.policy.action_net
        assert isinstance(mean_head, nn.Linear)
        mean_head.bias.copy_(th.tensor([-1.0, 0.0, 1.0]))  # three experts, spread apart
    observations = next(model.rollout_buffer.get(256)).observations

    def frequency_and_weights() -> tuple[th.Tensor, th.Tensor]:
        with th.no_grad():
            distribution = model.policy.get_distribution(observations)
            mixture: Any = distribution
            wins = th.zeros(3)
            for _ in range(50):
                wins += th.bincount(mixture.rsample_each_component()[0][..., 0].argmax(dim=1), minlength=3)
            return wins / wins.sum(), mixture.weights.mean(dim=0)

    frequency, initial_weights = frequency_and_weights()
    for _ in range(120):  # the gate alone (a linear layer on detached features) learns it: no shared layers help
        model._train_routing()
    frequency_after, weights = frequency_and_weights()
    assert (weights - frequency_after).abs().sum() < 0.5 * (initial_weights - frequency).abs().sum()
    th.testing.assert_close(weights, frequency_after, atol=0.05, rtol=0)  # measured: within 0.015


def test_separate_feature_extractors() -> None:
    """Actor and critic with features extractors of their own (CnnPolicy's, here on images) both learn."""
    from stable_baselines3.common.envs import FakeImageEnv

    env = FakeImageEnv(action_dim=2, screen_height=36, screen_width=36, n_channels=1, discrete=False)
    policy_kwargs = dict(net_arch=[16], share_features_extractor=False, features_extractor_kwargs=dict(features_dim=16))
    model = PPOPMOE("CnnPolicy", env, n_steps=64, batch_size=32, n_epochs=1, policy_kwargs=policy_kwargs)
    policy = model.policy
    assert policy.pi_features_extractor is not policy.vf_features_extractor
    before = {
        name: [p.detach().clone() for p in module.parameters()]
        for name, module in (("actor", policy.pi_features_extractor), ("critic", policy.vf_features_extractor))
    }
    model.learn(64)
    for name, module in (("actor", policy.pi_features_extractor), ("critic", policy.vf_features_extractor)):
        assert any(not th.equal(old, new) for old, new in zip(before[name], module.parameters(), strict=True)), name
    assert np.isfinite(model.logger.name_to_value["train/routing_loss"])


def test_learn_and_save_load(tmp_path: Any) -> None:
    model = PPOPMOE("MlpPolicy", "Pendulum-v1", n_steps=128, batch_size=64, n_epochs=2, policy_kwargs=dict(net_arch=[32]))
    model.learn(256)
    assert np.isfinite(model.logger.name_to_value["train/routing_loss"])
    observations = np.stack([model.observation_space.sample() for _ in range(8)])
    expected, _ = model.predict(observations, deterministic=True)
    model.save(tmp_path / "pmoe.zip")
    loaded = PPOPMOE.load(tmp_path / "pmoe.zip")
    np.testing.assert_array_equal(loaded.predict(observations, deterministic=True)[0], expected)
    for key, value in model.aux_q.state_dict().items():
        th.testing.assert_close(loaded.aux_q.state_dict()[key], value)


def parameter_groups(model: PPOPMOE) -> dict[str, list[th.Tensor]]:
    policy = model.policy
    return {
        "gate": list(policy.logits_net.parameters()),
        "trunk": list(policy.mlp_extractor.policy_net.parameters()),
        "means": list(policy.action_net.parameters()),
        "log_std": [policy.log_std],
        "value": list(policy.value_net.parameters()),
    }


def changed_groups(model: PPOPMOE, step: Any) -> set[str]:
    before = {name: [param.detach().clone() for param in params] for name, params in parameter_groups(model).items()}
    step()
    after = parameter_groups(model)
    return {
        name
        for name, params in after.items()
        if any(not th.equal(old, new) for old, new in zip(before[name], params, strict=True))
    }


def test_routing_only_ppo_epochs_train_the_experts_and_the_routing_loss_the_gate_only(monkeypatch: Any) -> None:
    """``routing_only``: the gate's parameters move by the routing loss only, and the routing loss moves nothing else."""
    model = collected(learning_rate=3e-3, ent_coef=0.01, n_epochs=2, gate_gradient="routing_only")
    monkeypatch.setattr(model, "_fit_aux_q", lambda: 0.0)
    monkeypatch.setattr(model, "_train_routing", lambda: 0.0)
    assert changed_groups(model, model.train) == {"trunk", "means", "log_std", "value"}
    monkeypatch.undo()
    assert changed_groups(model, model._train_routing) == {"gate"}


def test_without_the_freeze_ppo_would_train_the_gate(monkeypatch: Any) -> None:
    """The check above can fail: PPO's epochs on the same policy without the freeze move the gate's parameters."""
    from sb3_mixture import PPOMixture

    model = collected(learning_rate=3e-3, ent_coef=0.01, n_epochs=2, gate_gradient="routing_only")
    model.policy.optimizer = th.optim.Adam(model.policy.parameters(), lr=3e-3)  # PPOMixture's optimizer: every parameter
    assert "gate" in changed_groups(model, lambda: PPOMixture.train(model))


def reached_groups(model: PPOPMOE, loss: th.Tensor) -> set[str]:
    """The parameter groups (the policy's and ``aux_q``) that receive a non-zero gradient from ``loss``."""
    groups: dict[str, list[th.Tensor]] = {**parameter_groups(model), "aux_q": list(model.aux_q.parameters())}
    params = [param for group in groups.values() for param in group]
    grads = th.autograd.grad(loss, params, allow_unused=True)
    by_param = {id(param): grad for param, grad in zip(params, grads, strict=True)}
    return {
        name
        for name, group in groups.items()
        if any(by_param[id(param)] is not None and by_param[id(param)].abs().sum() > 0 for param in group)
    }


def test_ppo_and_routing_each_loss_reaches_its_parameter_groups() -> None:
    """Default: PPO's surrogate on the mixture density trains the gate with the experts and the value; the routing loss
    the gate only (detached features); Qaux's regression Qaux only."""
    model = collected(ent_coef=0.01)
    assert model.gate_gradient == "ppo_and_routing"
    rollout = next(model.rollout_buffer.get(64))
    ppo = model._ppo_loss(rollout, clip_range=0.2, clip_range_vf=None)
    assert reached_groups(model, ppo.loss) == {"gate", "trunk", "means", "log_std", "value"}
    assert reached_groups(model, model._routing_loss(rollout.observations)) == {"gate"}
    assert reached_groups(model, model._aux_q_loss(rollout)) == {"aux_q"}
    before = {name: [param.detach().clone() for param in params] for name, params in parameter_groups(model).items()}
    aux_before = [param.detach().clone() for param in model.aux_q.parameters()]
    model.train()
    for name, params in parameter_groups(model).items():
        assert any(not th.equal(old, new) for old, new in zip(before[name], params, strict=True)), name
    assert any(not th.equal(old, new) for old, new in zip(aux_before, model.aux_q.parameters(), strict=True))


def test_gate_and_aux_q_learn_at_their_own_rate() -> None:
    """The gate and Qaux step at ``routing_learning_rate`` (3e-4 by default) whatever PPO's step size; the policy's
    optimizer no longer holds the gate, so no parameter is stepped twice."""
    model = collected(learning_rate=2e-5)
    model.train()
    assert model.policy.optimizer.param_groups[0]["lr"] == 2e-5
    assert model.gate_optimizer.param_groups[0]["lr"] == 3e-4
    assert model.aux_q_optimizer.param_groups[0]["lr"] == 3e-4
    gate_ids = {id(param) for param in model.policy.logits_net.parameters()}
    stepped = [id(param) for group in model.policy.optimizer.param_groups for param in group["params"]]
    assert not gate_ids & set(stepped)
    assert len(stepped) + len(gate_ids) == len(list(model.policy.parameters()))
    follows = collected(learning_rate=2e-5, routing_learning_rate=None)
    follows.train()
    assert follows.gate_optimizer.param_groups[0]["lr"] == 2e-5


def test_joint_epochs_are_sb3_ppo_when_the_pmoe_terms_vanish() -> None:
    """The joint loop re-writes SB3's PPO.train: with no routing term and the gate at PPO's rate, its policy after one
    train() equals SB3's on the same rollout (a PPOMixture with the same detached gate)."""
    from sb3_mixture import PPOMixture

    common: dict[str, Any] = dict(n_steps=256, batch_size=64, n_epochs=3, learning_rate=3e-3, ent_coef=0.0, seed=0)
    pmoe = collected(routing_coef=0.0, routing_learning_rate=None, n_epochs=3, learning_rate=3e-3)
    policy_kwargs = dict(net_arch=[32], n_components=3, detach_gate=True)
    reference = PPOMixture("MlpPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs, **common)
    reference.policy.load_state_dict(pmoe.policy.state_dict())
    reference.policy.optimizer = th.optim.Adam(reference.policy.parameters(), lr=3e-3, eps=1e-5)  # SB3's PPO Adam
    reference.rollout_buffer = pmoe.rollout_buffer
    reference._current_progress_remaining = pmoe._current_progress_remaining = 1.0
    reference._logger = pmoe.logger
    for model in (reference, pmoe):
        np.random.seed(1)
        model.train()
    for key, value in reference.policy.state_dict().items():
        th.testing.assert_close(pmoe.policy.state_dict()[key], value, rtol=0, atol=1e-6, msg=key)


def test_unknown_gate_gradient_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="gate_gradient must be one of"):
        PPOPMOE("MlpPolicy", "Pendulum-v1", gate_gradient="frozen")
    with pytest.raises(ValueError, match="routing_learning_rate must be"):
        PPOPMOE("MlpPolicy", "Pendulum-v1", routing_learning_rate=0.0)


def test_auxiliary_q_is_queried_at_executed_actions() -> None:
    """Actions beyond the bounds are clipped before Qaux sees them, as the environment clips them."""
    model = collected()
    actions = th.tensor([[-5.0], [0.5], [7.0]])
    th.testing.assert_close(model._clip_actions(actions), th.tensor([[-2.0], [0.5], [2.0]]))


def test_gate_must_stay_detached() -> None:
    import pytest

    with pytest.raises(ValueError, match="detach_gate=True"):
        PPOPMOE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(detach_gate=False))
