"""``compile=True``: the same numbers as eager, whole graphs, save/load both ways, clear errors (docs/guide/speed.rst)."""

import shutil
from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
import pytest
import torch as th
import torch._dynamo
import torch._inductor.config
from stable_baselines3.common.base_class import BaseAlgorithm
from torch import nn

from sb3_mixture import PPOPMOE, SACAWMP, PPOMixture, SACMixture
from sb3_mixture.sac_awmp.policies import AWMPPolicy
from tests.helpers import ALGORITHMS

# Every algorithm with a compile parameter: the SAC family's keys and the two PPO classes.
PARAMS = [pytest.param(cls, kwargs, id=key) for key, cls, kwargs in ALGORITHMS] + [
    pytest.param(PPOMixture, {}, id="ppo_mixture"),
    pytest.param(PPOPMOE, {}, id="ppo_pmoe"),
]
SAC_KWARGS: dict[str, Any] = dict(learning_starts=32, batch_size=32, buffer_size=1_000)
PPO_KWARGS: dict[str, Any] = dict(n_steps=64, batch_size=32, n_epochs=2)
AWMP_KWARGS: dict[str, Any] = dict(prior_update_interval=40, prior_gradient_steps=2, prior_window=64)


def make(cls: type[BaseAlgorithm], kwargs: dict[str, Any], compile: bool) -> Any:
    on_policy = issubclass(cls, PPOMixture)
    extra = {**(PPO_KWARGS if on_policy else SAC_KWARGS), **(AWMP_KWARGS if cls.__name__ == "SACAWMP" else {})}
    policy_kwargs = dict(net_arch=[16, 16], n_components=3)
    options: dict[str, Any] = dict(seed=3, compile=compile, policy_kwargs=policy_kwargs, **kwargs, **extra)
    return cls("MlpPolicy", "Pendulum-v1", **options)


@pytest.fixture
def same_random_numbers() -> Iterator[None]:
    """Inductor draws random numbers with its own generator; its fallback draws them with eager's, in eager's order, so
    a compiled and an eager run from one seed sample the same actions."""
    torch._dynamo.reset()
    with torch._inductor.config.patch(fallback_random=True):
        yield
    torch._dynamo.reset()


@pytest.mark.parametrize("cls,kwargs", PARAMS)
def test_compiled_training_matches_eager(
    cls: type[BaseAlgorithm], kwargs: dict[str, Any], same_random_numbers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if cls is SACAWMP:
        # Its value target draws twice (the components' actions, then the gate's) in one graph with gradients, where
        # the fallback gives both draws the SAME numbers (Inductor's own generator draws them independently, as eager
        # does): compare with the gate at the components' means, one draw per graph. The combined-action loss draws
        # a fresh behaviour action beside its components' samples: that action is the deterministic one here too.
        gate_log_weights, gated_action = AWMPPolicy.gate_log_weights, AWMPPolicy.gated_action
        monkeypatch.setattr(
            AWMPPolicy,
            "gate_log_weights",
            lambda self, obs, distribution, deterministic=False: gate_log_weights(self, obs, distribution, deterministic=True),
        )
        monkeypatch.setattr(
            AWMPPolicy,
            "gated_action",
            lambda self, obs, distribution, deterministic=False: gated_action(self, obs, distribution, deterministic=True),
        )
    steps = 128 if issubclass(cls, PPOMixture) else 64  # two rollouts; 32 gradient steps past learning_starts
    # One after the other: SB3 seeds the global generators at construction, which the other model's learn would move.
    eager = make(cls, kwargs, compile=False)
    eager.learn(steps)
    compiled = make(cls, kwargs, compile=True)
    compiled.learn(steps)
    # Tolerance: Inductor fuses element-wise kernels and reorders float32 sums, so each value differs by rounding
    # (1e-7 relative); tens of Adam steps normalise the gradients, which carries that rounding into the parameters.
    # A real difference (a different sample, a missing term) moves them by 1e-3 or more after the first step.
    state = compiled.policy.state_dict()
    for name, value in eager.policy.state_dict().items():
        th.testing.assert_close(state[name], value, rtol=1e-4, atol=1e-4, msg=partial("{}: {}".format, name))
    # atol: PPO's policy-gradient loss is a mean of normalised advantages (mean 0) times ratios near 1, so it sits near
    # zero (1e-5 here) where float32 rounding of the sum (1e-8) is a large relative difference.
    for name in ("train/actor_loss", "train/critic_loss", "train/policy_gradient_loss", "train/value_loss"):
        if name in eager.logger.name_to_value:
            np.testing.assert_allclose(
                compiled.logger.name_to_value[name], eager.logger.name_to_value[name], rtol=1e-3, atol=1e-6
            )


@pytest.mark.parametrize("cls,kwargs", PARAMS)
def test_compiled_step_is_whole_graphs_compiled_once(cls: type[BaseAlgorithm], kwargs: dict[str, Any]) -> None:
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    if not issubclass(cls, PPOMixture):
        # More gradient steps per train call than Dynamo's recompile limit (8): what changes between them must not
        # recompile the step (fullgraph=True raises at the limit).
        kwargs = {**kwargs, "train_freq": 16, "gradient_steps": 16}
    model = make(cls, kwargs, compile=True)
    model.learn(128)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert graphs > 0
    model.learn(128, reset_num_timesteps=False)
    # No graph break anywhere (fullgraph=True would raise one too) and nothing compiled again in the steady state.
    assert not torch._dynamo.utils.counters["graph_break"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs


@pytest.mark.parametrize("cls,kwargs", [PARAMS[0], PARAMS[-2]])
def test_compiled_and_eager_models_load_into_each_other(
    cls: type[BaseAlgorithm], kwargs: dict[str, Any], tmp_path: Any
) -> None:
    model = make(cls, kwargs, compile=True)
    model.learn(64)
    assert not any("_orig_mod" in name for name in model.policy.state_dict())
    observations = np.stack([model.observation_space.sample() for _ in range(8)])
    expected, _ = model.predict(observations, deterministic=True)
    model.save(tmp_path / "compiled.zip")

    eager: Any = cls.load(tmp_path / "compiled.zip", env=model.env, compile=False)
    assert eager.compile is False
    np.testing.assert_allclose(eager.predict(observations, deterministic=True)[0], expected, rtol=1e-5, atol=1e-6)
    eager.learn(64, reset_num_timesteps=False)
    eager.save(tmp_path / "eager.zip")

    compiled_again: Any = cls.load(tmp_path / "eager.zip", env=model.env, compile=True)
    assert compiled_again.compile is True
    expected, _ = eager.predict(observations, deterministic=True)
    np.testing.assert_allclose(compiled_again.predict(observations, deterministic=True)[0], expected, rtol=1e-5, atol=1e-6)
    compiled_again.learn(64, reset_num_timesteps=False)


def test_compile_without_a_cpp_compiler_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    for cls in (SACMixture, PPOMixture):
        with pytest.raises(RuntimeError, match=r"compile=True\) needs a C\+\+ compiler.*g\+\+.*compile=False"):
            cls("MlpPolicy", "Pendulum-v1", compile=True)


def test_compile_with_a_critic_the_operator_cannot_run_is_refused() -> None:
    with pytest.raises(ValueError, match=r"compile=True\) needs Q-networks of Linear layers.*compile=False"):
        SACMixture("MlpPolicy", "Pendulum-v1", compile=True, policy_kwargs=dict(activation_fn=nn.Hardswish))


@pytest.mark.parametrize("optimizer_class", [th.optim.Adam, th.optim.AdamW])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_update_is_pytorchs_adam(optimizer_class: type[th.optim.Adam], weight_decay: float) -> None:
    """The traceable Adam of the compiled gradient step against PyTorch's own (fused, as the policies use it), on the same
    gradients for 50 steps with a learning rate that changes in place; a parameter without a gradient is left alone."""
    from sb3_mixture.common.compile import adam_update, prepare_adam

    th.manual_seed(0)
    reference_net, net = nn.Linear(4, 3), nn.Linear(4, 3)
    net.load_state_dict(reference_net.state_dict())
    unused, reference_unused = nn.Parameter(th.ones(2)), nn.Parameter(th.ones(2))
    reference = optimizer_class(
        [*reference_net.parameters(), reference_unused], lr=1e-2, weight_decay=weight_decay, fused=True
    )
    optimizer = optimizer_class([*net.parameters(), unused], lr=1e-2, weight_decay=weight_decay, fused=True)
    prepare_adam(optimizer)
    for step in range(50):
        gradients = [th.randn_like(param) for param in net.parameters()]
        for param, gradient in zip(reference_net.parameters(), gradients, strict=True):
            param.grad = gradient
        reference.step()
        adam_update(optimizer, [*gradients, None])
        for group in (*reference.param_groups, *optimizer.param_groups):
            group["lr"] = 1e-2 / (1 + step) if not isinstance(group["lr"], th.Tensor) else group["lr"].fill_(1e-2 / (1 + step))
    for param, expected in zip(net.parameters(), reference_net.parameters(), strict=True):
        th.testing.assert_close(param, expected, rtol=1e-5, atol=1e-6)
        th.testing.assert_close(optimizer.state[param]["exp_avg_sq"], reference.state[expected]["exp_avg_sq"])
    assert th.equal(unused, th.ones(2)) and not optimizer.state[unused].get("step", th.zeros(())).item()


def test_compile_needs_adam() -> None:
    with pytest.raises(ValueError, match=r"optimizer_class must be torch\.optim\.Adam or AdamW"):
        SACMixture("MlpPolicy", "Pendulum-v1", compile=True, policy_kwargs=dict(optimizer_class=th.optim.SGD))


def test_a_process_compiles_more_models_than_dynamos_recompile_limit() -> None:
    """Each model's compiled step has a cache of its own (the benchmark runner trains grid after grid in one process):
    with the limit at 2, a third and fourth model still compile, where one shared code object would refuse."""
    torch._dynamo.reset()
    with torch._dynamo.config.patch(recompile_limit=2):
        for seed in range(4):
            make(SACMixture, {}, compile=True).learn(40 + seed)
            PPOMixture("MlpPolicy", "Pendulum-v1", seed=seed, compile=True, **PPO_KWARGS).learn(64)
    torch._dynamo.reset()
