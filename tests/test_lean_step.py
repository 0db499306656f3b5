"""What the SAC family skips for speed (``sb3_mixture.common.speed``, docs/guide/speed.rst) changes no number: the direct
acting path, the mode switch of mode-free networks, fused Adam, the mixture statistics computed when the logs are
written (the twin-critic operator: tests/test_critic.py)."""

import copy
from typing import Any

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from torch import nn

from sb3_mixture import SACMixture
from sb3_mixture.common.sac_family import SACFamily
from sb3_mixture.common.speed import is_mode_free, with_fused_adam
from tests.helpers import FAST_KWARGS, algorithm_params


@pytest.mark.parametrize(
    "cls,kwargs", [param for param in algorithm_params() if param.values[0]._sample_action is SACFamily._sample_action]
)
def test_direct_acting_path_takes_predicts_action(cls: type, kwargs: dict[str, Any]) -> None:
    """From the same random state, the direct path and SB3's ``predict``-based one give the same action and buffer
    action (SAC-AWMP, which acts with its gated mixture through a path of its own, is not among these)."""
    model = cls("MlpPolicy", "Pendulum-v1", **{**FAST_KWARGS, **kwargs}, seed=0)
    model.learn(FAST_KWARGS["learning_starts"] + 10)
    th.manual_seed(5)
    action, buffer_action = model._sample_action(model.learning_starts, None, 1)
    th.manual_seed(5)
    expected_action, expected_buffer_action = OffPolicyAlgorithm._sample_action(model, model.learning_starts, None, 1)
    np.testing.assert_array_equal(action, expected_action)
    np.testing.assert_array_equal(buffer_action, expected_buffer_action)


def test_direct_acting_path_rejects_nan_observations() -> None:
    model = SACMixture("MlpPolicy", "Pendulum-v1", **FAST_KWARGS)
    model.learn(FAST_KWARGS["learning_starts"] + 2)
    model._last_obs = np.full((1, 3), np.nan, dtype=np.float32)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model._sample_action(0, None, 1)


def test_mode_switch_is_skipped_only_for_mode_free_networks() -> None:
    """A policy of linear layers and activations records the mode without walking its modules; one with dropout
    switches every module, as SB3 does."""
    plain = SACMixture("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8])).policy
    assert is_mode_free(plain)
    plain.set_training_mode(False)
    assert not plain.training and plain.actor.training  # untouched: nothing in it reads the mode
    with_dropout = SACMixture("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8], activation_fn=nn.Dropout)).policy
    assert not is_mode_free(with_dropout)
    with_dropout.set_training_mode(False)
    assert not any(module.training for module in with_dropout.actor.modules())
    with_dropout.set_training_mode(True)
    assert all(module.training for module in with_dropout.actor.modules())


def test_mixture_statistics_are_logged_when_the_logs_are_written() -> None:
    """Computed from the last training minibatch at ``dump_logs`` and when ``learn`` returns, not at every step."""
    model = SACMixture("MlpPolicy", "Pendulum-v1", **FAST_KWARGS)
    calls: list[int] = []
    original = model._record_mixture_statistics

    def counted() -> None:
        calls.append(model.num_timesteps)
        original()

    model._record_mixture_statistics = counted  # type: ignore[method-assign]
    model.learn(FAST_KWARGS["learning_starts"] + 400, log_interval=1)  # Pendulum: two episodes of 200 steps
    assert len(calls) == 3  # two dumps and the end of learn, against 400 gradient steps
    assert 0.0 <= model.logger.name_to_value["train/weight_entropy"] <= np.log(5) + 1e-6


@pytest.mark.parametrize("optimizer_class", [th.optim.Adam, th.optim.AdamW])
def test_fused_adam_takes_the_plain_adam_steps(optimizer_class: type[th.optim.Adam]) -> None:
    """The policies' default (``with_fused_adam``: ``fused=True`` unless the user chose) against PyTorch's plain
    single-tensor Adam, 50 steps on the same losses; and a user's own choice of implementation is kept."""
    th.manual_seed(0)
    fused_net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    plain_net = copy.deepcopy(fused_net)
    initial_weight = next(fused_net.parameters()).detach().clone()
    fused = optimizer_class(fused_net.parameters(), lr=1e-2, **with_fused_adam(optimizer_class, None))
    plain = optimizer_class(plain_net.parameters(), lr=1e-2, foreach=False)
    assert fused.defaults["fused"] is True
    for _ in range(50):
        inputs = th.randn(32, 4)
        for net, optimizer in ((fused_net, fused), (plain_net, plain)):
            optimizer.zero_grad()
            net(inputs).square().mean().backward()
            optimizer.step()
    # Trained (so the comparison below is not of two untouched nets), and equal to the plain Adam's to rounding.
    assert not th.equal(next(fused_net.parameters()), initial_weight)
    for fused_param, plain_param in zip(fused_net.parameters(), plain_net.parameters(), strict=True):
        th.testing.assert_close(fused_param, plain_param, rtol=1e-5, atol=1e-6)
    assert with_fused_adam(optimizer_class, {"foreach": True}) == {"foreach": True}
    assert with_fused_adam(th.optim.SGD, None) == {}
