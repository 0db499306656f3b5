"""CrossQMixture's own pieces: the branch-free BatchRenorm of compile=True, CrossQ's modes and delays, its Adam."""

import pytest
import torch as th
from sb3_contrib.common.torch_layers import BatchRenorm1d

from sb3_mixture import CrossQMixture
from sb3_mixture.crossq_mixture.policies import make_batch_renorm_traceable
from tests.helpers import FAST_KWARGS


@pytest.mark.parametrize("warmup_steps", [1_000, 2])
def test_branch_free_batch_renorm_is_sb3_contribs(warmup_steps: int) -> None:
    """Outputs and running statistics bit for bit, in the warm-up phase and after it (where the renormalisation's r
    and d clip), then in evaluation mode."""
    th.manual_seed(0)
    reference, branch_free = BatchRenorm1d(8, warmup_steps=warmup_steps), BatchRenorm1d(8, warmup_steps=warmup_steps)
    branch_free.load_state_dict(reference.state_dict())
    make_batch_renorm_traceable(branch_free)
    for step in range(6):
        x = th.randn(32, 8) * (1 + step) + step  # drifting statistics: r and d leave 1 and 0
        th.testing.assert_close(branch_free(x), reference(x), rtol=0, atol=0)
    for name, value in reference.state_dict().items():
        th.testing.assert_close(branch_free.state_dict()[name], value, rtol=0, atol=0)
    reference.eval(), branch_free.eval()
    x = th.randn(4, 8)
    th.testing.assert_close(branch_free(x), reference(x), rtol=0, atol=0)


def batch_renorm_steps(module: th.nn.Module) -> int:
    """How many training-mode forward passes the module's (first) BatchRenorm layer has seen."""
    steps = next(layer for layer in module.modules() if isinstance(layer, BatchRenorm1d)).steps
    assert isinstance(steps, th.Tensor)
    return int(steps)


def test_crossq_modes_and_delayed_actor_updates() -> None:
    """CrossQ's schedule: every gradient step one training-mode pass of the critics (the joint batch), the actor's
    training-mode pass and alpha's step only every policy_delay steps, counted across train calls as CrossQ counts."""
    model = CrossQMixture("MlpPolicy", "Pendulum-v1", **{**FAST_KWARGS, "learning_starts": 0}, policy_delay=3, seed=0)
    model.learn(10)  # fills the buffer: 10 steps, 10 gradient steps
    critic_passes, actor_passes = batch_renorm_steps(model.critic), batch_renorm_steps(model.actor)
    assert critic_passes == model._n_updates == 10
    assert actor_passes == 3  # updates 3, 6, 9: acting and the next actions ran in evaluation mode
    assert model.log_ent_coef is not None
    before = float(model.log_ent_coef.detach())
    model.train(gradient_steps=2, batch_size=16)  # updates 11 and 12: the actor and alpha step at 12 only
    assert batch_renorm_steps(model.critic) == 12 and batch_renorm_steps(model.actor) == 4
    assert float(model.log_ent_coef.detach()) != before
    model.train(gradient_steps=2, batch_size=16)  # 13, 14: no actor step
    assert batch_renorm_steps(model.actor) == 4


def test_crossq_mixture_keeps_crossqs_adam() -> None:
    model = CrossQMixture("MlpPolicy", "Pendulum-v1", **FAST_KWARGS)
    for optimizer in (model.actor.optimizer, model.critic.optimizer):
        assert optimizer.defaults["betas"] == (0.5, 0.999) and optimizer.defaults["fused"] is True
    chosen = CrossQMixture("MlpPolicy", "Pendulum-v1", **{**FAST_KWARGS, "policy_kwargs": dict(optimizer_kwargs={})})
    assert chosen.actor.optimizer.defaults["betas"] == (0.9, 0.999)  # an explicit choice is the user's, as in CrossQ
