"""``precision="bf16"``: which products run in bf16, that everything else stays fp32, that the math checks hold with
bf16's rounding, and that every key trains, saves and loads with it.

Tolerances: bf16 keeps 8 significant bits, so each rounding is off by at most 2^-9 relative (0.2%); a hidden layer's
output is rounded once (its product accumulates in fp32), so a value through two hidden layers is off by a few 2^-9."""

import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
import torch._dynamo
from stable_baselines3 import SAC
from torch import nn

from sb3_mixture import PPOPMOE, PPOMixture, SACMixture, TQCMixture
from sb3_mixture.common import precision as precision_module
from sb3_mixture.common.critic import min_critic_values
from sb3_mixture.common.precision import BF16Linear, hidden_linear_layers, set_precision
from tests.helpers import FAST_KWARGS, algorithm_params
from tests.test_compile import PARAMS
from tests.test_compile import make as make_compilable
from tests.test_critic import autograd_reference, make_critic
from tests.test_distributions import reference

BF16_ROUNDING = 2.0**-9  # bf16's largest relative rounding error


def test_bf16_linear_multiplies_in_bf16_and_returns_fp32() -> None:
    th.manual_seed(0)
    layer = nn.Linear(64, 32)
    x = th.randn(128, 64)
    fp32 = layer(x)
    layer.__class__ = BF16Linear
    output = layer(x)
    assert output.dtype == th.float32 and layer.weight.dtype == th.float32
    # The product of the bf16-rounded operands, accumulated exactly, then rounded once to bf16.
    rounded = [tensor.to(th.bfloat16).double() for tensor in (x, layer.weight, layer.bias)]
    exact = (rounded[0] @ rounded[1].t() + rounded[2]).to(th.bfloat16).double()
    assert (output.double() - exact).abs().max() <= 2 * BF16_ROUNDING * exact.abs().max()
    # And not fp32's product: the operands' rounding shows.
    assert (output - fp32).abs().max() > 10 * (fp32.abs().max() * 2.0**-24)


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_hidden_layers_and_only_they_run_in_bf16(cls: Any, kwargs: dict[str, Any]) -> None:
    """Every Linear that its Sequential follows with an activation or normalisation multiplies in bf16 but the first of
    each stack (it multiplies the observations and actions); the output layers (Q-values, heads) and the parameters
    stay fp32; the state dict is the fp32 model's."""
    fp32 = cls("MlpPolicy", "Pendulum-v1", **{**FAST_KWARGS, **kwargs}, seed=0)
    bf16 = cls("MlpPolicy", "Pendulum-v1", **{**FAST_KWARGS, **kwargs}, seed=0, precision="bf16")
    layers = hidden_linear_layers(bf16.policy)
    first = {id(next(child for child in sequential if isinstance(child, nn.Linear))) for sequential, _ in layers}
    hidden = {id(sequential[index]) for sequential, index in layers} - first
    assert len(first) >= 3 and len(hidden) >= 3  # the actor's stack and each critic's (CrossQ has no target)
    for module in bf16.policy.modules():
        if isinstance(module, nn.Linear):
            assert isinstance(module, BF16Linear) == (id(module) in hidden), module
    assert not any(isinstance(module, BF16Linear) for module in fp32.policy.modules())
    assert all(parameter.dtype == th.float32 for parameter in bf16.policy.parameters())
    assert bf16.policy.state_dict().keys() == fp32.policy.state_dict().keys()


def test_the_mixture_math_stays_fp32_under_bf16() -> None:
    """The actor's distribution parameters are fp32, and its log-density of its own samples is torch.distributions'
    squashed Gaussian mixture on those parameters (in float64) to fp32 rounding: bf16 touches the products only."""
    model = SACMixture("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(n_components=3), precision="bf16", seed=0)
    observations = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(256)]))
    with th.no_grad():
        mean, log_std, kwargs = model.actor.get_action_dist_params(observations)
        assert mean.dtype == log_std.dtype == kwargs["logits"].dtype == th.float32
        actions, log_prob = model.actor.action_log_prob(observations)
    distribution = model.actor.action_dist
    assert distribution.gaussian_actions is not None
    expected = reference(distribution.logits.double(), distribution.mean.double(), distribution.log_std.double())
    moderate = distribution.gaussian_actions.abs().amax(dim=-1) < 5.0  # where the reference's own atanh is accurate
    assert moderate.float().mean() > 0.9
    th.testing.assert_close(log_prob.double()[moderate], expected.log_prob(actions.double())[moderate], atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("activation_fn", [nn.ReLU, nn.Tanh])
def test_fast_min_critic_values_under_bf16_are_the_bf16_critics(activation_fn: type[nn.Module]) -> None:
    """The twin-critic operator multiplies in bf16 where the critic's layers do: its values and action-gradients are
    autograd's through the bf16 critic, to bf16's rounding (the operator splits the first layer's product into a state
    and an action part, each rounded once), and measurably not the fp32 critic's."""
    th.manual_seed(0)
    critic = make_critic(activation_fn)
    obs = th.randn(64, 5)
    actions = (th.rand(64, 4, 3) * 2 - 1).requires_grad_(True)
    weights = th.randn(64, 4)
    fp32_actions = actions.detach().clone().requires_grad_(True)
    fp32_values_with_grad = autograd_reference(critic, obs, fp32_actions)
    fp32_values = fp32_values_with_grad.detach()
    set_precision(critic, "bf16")
    expected = autograd_reference(critic, obs, actions)
    (expected_grad,) = th.autograd.grad((weights * expected).sum(), actions)
    values = min_critic_values(critic, obs, actions)
    (grad,) = th.autograd.grad((weights * values).sum(), actions)
    scale = expected.abs().max()
    assert (values - expected).abs().max() <= 8 * BF16_ROUNDING * scale
    # Where the two critics nearly tie, rounding decides which one is the minimum (and whose gradient is right).
    with th.no_grad():
        q_both = th.cat(critic(obs.repeat_interleave(4, dim=0), actions.reshape(256, 3)), dim=1)
    clear = ((q_both[:, 0] - q_both[:, 1]).abs() > 8 * BF16_ROUNDING * scale).view(64, 4)
    assert clear.float().mean() > 0.8
    # And where a hidden unit sits at its kink, rounding decides whether it passes the gradient: a few entries differ
    # by their own size (measured: 1 in 768), the rest by bf16's rounding.
    error = (grad - expected_grad)[clear].abs()
    assert th.quantile(error, 0.95) <= 8 * BF16_ROUNDING * expected_grad.abs().max()
    (fp32_grad,) = th.autograd.grad((weights * fp32_values_with_grad).sum(), fp32_actions)
    assert error.mean() <= 2 * (expected_grad - fp32_grad)[clear].abs().mean()  # no further from bf16 than bf16 from fp32
    assert (values - fp32_values).abs().max() > (values - expected).abs().max() / 8  # it did round
    assert (values - fp32_values).abs().max() > 1e-5 * scale


def test_k1_actor_loss_under_bf16_is_sacs_under_bf16() -> None:
    """K = 1 in bf16 is SB3's SAC with the same layers in bf16: the same loss and gradients, to bf16's rounding."""
    env = gym.make("Pendulum-v1")
    reference = SAC("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64]), seed=0)
    set_precision(reference.policy, "bf16")
    mixture = SACMixture("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64], n_components=1), seed=1, precision="bf16")
    for name in ("latent_pi", "mu", "log_std"):
        getattr(mixture.actor, name).load_state_dict(getattr(reference.actor, name).state_dict())
    mixture.critic.load_state_dict(reference.critic.state_dict())
    reference.actor.action_dist.epsilon = 0.0  # the package's exact tanh Jacobian (tests/test_estimators.py)
    env.observation_space.seed(0)
    observations = th.as_tensor(np.stack([env.observation_space.sample() for _ in range(64)]))
    ent_coef = th.tensor(0.3)
    th.manual_seed(42)
    actions, log_prob = reference.actor.action_log_prob(observations)
    q_values = th.cat(reference.critic(observations, actions), dim=1).min(dim=1, keepdim=True).values
    reference_loss = (ent_coef * log_prob.reshape(-1, 1) - q_values).mean()
    reference_loss.backward()
    th.manual_seed(42)
    loss = mixture._mixture_actor_loss(mixture.actor.get_distribution(observations), observations, ent_coef).loss
    loss.backward()
    th.testing.assert_close(loss, reference_loss, rtol=8 * BF16_ROUNDING, atol=8 * BF16_ROUNDING)
    for name in ("latent_pi", "mu", "log_std"):
        for mixture_param, reference_param in zip(
            getattr(mixture.actor, name).parameters(), getattr(reference.actor, name).parameters(), strict=True
        ):
            scale = reference_param.grad.abs().max()
            assert (mixture_param.grad - reference_param.grad).abs().max() <= 16 * BF16_ROUNDING * scale, name


@pytest.mark.parametrize("cls,kwargs", algorithm_params())
def test_every_key_trains_in_bf16(cls: Any, kwargs: dict[str, Any]) -> None:
    model = cls("MlpPolicy", "Pendulum-v1", **{**FAST_KWARGS, **kwargs}, seed=0, precision="bf16")
    before = [parameter.detach().clone() for parameter in model.policy.parameters()]
    model.learn(150)
    assert any(not th.equal(old, new) for old, new in zip(before, model.policy.parameters(), strict=True))
    assert all(th.isfinite(parameter).all() for parameter in model.policy.parameters())
    values = model.logger.name_to_value
    assert np.isfinite(values["train/actor_loss"]) and np.isfinite(values["train/critic_loss"])


@pytest.mark.parametrize("cls", [PPOMixture, PPOPMOE])
def test_ppo_keys_train_in_bf16(cls: Any) -> None:
    model = cls("MlpPolicy", "Pendulum-v1", n_steps=64, batch_size=32, n_epochs=2, policy_kwargs=dict(net_arch=[32, 32]),
                seed=0, precision="bf16")  # fmt: skip
    assert any(isinstance(module, BF16Linear) for module in model.policy.modules())
    before = [parameter.detach().clone() for parameter in model.policy.parameters()]
    model.learn(128)
    assert any(not th.equal(old, new) for old, new in zip(before, model.policy.parameters(), strict=True))
    assert np.isfinite(model.logger.name_to_value["train/loss"])
    # The ratio's log-densities: the rollout's and the loss's come from the same bf16 networks, so the first epoch's
    # ratio is 1 up to the products' rounding (logged clip fraction of a fresh policy stays small).
    assert model.logger.name_to_value["train/clip_fraction"] < 0.5


@pytest.mark.parametrize("saved,loaded", [("bf16", None), ("bf16", "fp32"), ("fp32", "bf16")])
def test_precision_is_saved_and_load_overrides_it(tmp_path: Any, saved: str, loaded: str | None) -> None:
    model = TQCMixture("MlpPolicy", "Pendulum-v1", **FAST_KWARGS, seed=0, precision=saved)
    model.learn(80)
    model.save(tmp_path / "model")
    overrides: dict[str, Any] = {} if loaded is None else {"precision": loaded}
    restored = TQCMixture.load(tmp_path / "model", env=gym.make("Pendulum-v1"), **overrides)
    expected = loaded or saved
    assert restored.precision == expected
    assert any(isinstance(module, BF16Linear) for module in restored.policy.modules()) == (expected == "bf16")
    for name, tensor in model.policy.state_dict().items():
        th.testing.assert_close(restored.policy.state_dict()[name], tensor, rtol=0, atol=0)
    observations = np.stack([model.observation_space.sample() for _ in range(16)])
    if expected == saved:  # same parameters, same products: the same actions
        np.testing.assert_array_equal(restored.predict(observations, deterministic=True)[0],
                                      model.predict(observations, deterministic=True)[0])  # fmt: skip
    restored.learn(40)


def test_bad_precision_and_missing_hardware_are_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16'\), got 'fp16'"):
        SACMixture("MlpPolicy", "Pendulum-v1", precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        PPOMixture("MlpPolicy", "Pendulum-v1", precision="half")
    monkeypatch.setattr(precision_module, "has_bf16_products", lambda device: False)
    with pytest.raises(RuntimeError, match=r"precision='bf16'\) needs a CPU with AVX512-BF16 or AMX"):
        SACMixture("MlpPolicy", "Pendulum-v1", precision="bf16")
    SACMixture("MlpPolicy", "Pendulum-v1", precision="fp32")  # fp32 needs nothing


# The distinct compiled paths: the twin-critic operator (sac_mrp), quantile critics (tqc_mrp), BatchRenorm
# (crossq_mrp), a value network (sac_gmm), PPO's compiled forward passes; every key in the slow run.
COMPILED_FAST = {"sac_mrp", "tqc_mrp", "crossq_mrp", "sac_gmm", "ppo_mixture"}


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        param if param.id in COMPILED_FAST else pytest.param(*param.values, id=param.id, marks=pytest.mark.slow)
        for param in PARAMS
    ],
)
def test_compiled_bf16_step_is_whole_graphs_and_trains(cls: Any, kwargs: dict[str, Any]) -> None:
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    model = make_compilable(cls, {**kwargs, "precision": "bf16"}, compile=True)
    before = [parameter.detach().clone() for parameter in model.policy.parameters()]
    model.learn(128)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    model.learn(128, reset_num_timesteps=False)
    assert not torch._dynamo.utils.counters["graph_break"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs > 0
    assert any(not th.equal(old, new) for old, new in zip(before, model.policy.parameters(), strict=True))
    assert all(th.isfinite(parameter).all() for parameter in model.policy.parameters())


def test_rl_zoo_sets_precision_and_enjoy_loads_it(tmp_path: Any) -> None:
    """``--hyperparams precision:"'bf16'"`` (or ``precision: bf16`` in a YAML file) reaches the model, which saves it."""
    import yaml

    from tests.test_zoo import FAST_TRAIN, check, run

    train = [sys.executable, "-m", "rl_zoo3.train", "--algo", "tqc_mrp", *FAST_TRAIN, "-f", "logs"]
    check(run([*train, "--hyperparams", "precision:'bf16'", "learning_starts:100"], tmp_path))
    run_dir = tmp_path / "logs" / "tqc_mrp" / "Pendulum-v1_1"
    assert dict(yaml.unsafe_load((run_dir / "Pendulum-v1" / "config.yml").read_text()))["precision"] == "bf16"
    assert TQCMixture.load(run_dir / "Pendulum-v1.zip").precision == "bf16"
    enjoy = [sys.executable, "-m", "rl_zoo3.enjoy", "--algo", "tqc_mrp", "--env", "Pendulum-v1", "-f", "logs"]
    check(run([*enjoy, "--no-render", "-n", "50"], tmp_path))
