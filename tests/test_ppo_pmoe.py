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
    model = collected(learning_rate=3e-3)
    before = buffer_mse(model)
    for _ in range(20):
        model._fit_aux_q()
    assert buffer_mse(model) < 0.5 * before


class LargerActionIsBetter(nn.Module):
    """A fixed auxiliary critic: Q grows with the (1-D) action, the last input column."""

    def forward(self, inputs: th.Tensor) -> th.Tensor:
        return inputs[..., -1:]


def test_routing_moves_the_weights_to_the_frequency_of_being_best() -> None:
    model = collected(learning_rate=3e-3)
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
    policy_kwargs = dict(net_arch=[16], share_features_extractor=False)
    PPOPMOE("MlpPolicy", "Pendulum-v1", n_steps=64, batch_size=32, n_epochs=1, policy_kwargs=policy_kwargs).learn(64)


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


def test_ppo_epochs_train_the_experts_and_the_routing_loss_the_gate_only(monkeypatch: Any) -> None:
    """Algorithm 1: the gate's parameters move by the routing loss only, and the routing loss moves nothing else."""
    model = collected(learning_rate=3e-3, ent_coef=0.01, n_epochs=2)
    monkeypatch.setattr(model, "_fit_aux_q", lambda: 0.0)
    monkeypatch.setattr(model, "_train_routing", lambda: 0.0)
    assert changed_groups(model, model.train) == {"trunk", "means", "log_std", "value"}
    monkeypatch.undo()
    assert changed_groups(model, model._train_routing) == {"gate"}


def test_without_the_freeze_ppo_would_train_the_gate(monkeypatch: Any) -> None:
    """The check above can fail: PPO's epochs on the same policy without the freeze move the gate's parameters."""
    from sb3_mixture import PPOMixture

    model = collected(learning_rate=3e-3, ent_coef=0.01, n_epochs=2)
    assert "gate" in changed_groups(model, lambda: PPOMixture.train(model))


def test_auxiliary_q_is_queried_at_executed_actions() -> None:
    """Actions beyond the bounds are clipped before Qaux sees them, as the environment clips them."""
    model = collected()
    actions = th.tensor([[-5.0], [0.5], [7.0]])
    th.testing.assert_close(model._clip_actions(actions), th.tensor([[-2.0], [0.5], [2.0]]))


def test_gate_must_stay_detached() -> None:
    import pytest

    with pytest.raises(ValueError, match="detach_gate=True"):
        PPOPMOE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(detach_gate=False))
