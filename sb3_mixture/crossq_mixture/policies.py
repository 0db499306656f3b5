"""CrossQMixture's policies: sb3-contrib's CrossQ policy (its batch-renormalised critics) with a squashed Gaussian mixture
actor on CrossQ's own actor trunk (batch renormalisation included)."""

import types
from typing import Any

import torch as th
from sb3_contrib.common.torch_layers import BatchRenorm1d
from sb3_contrib.crossq.policies import Actor, CrossQPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN
from torch import nn

from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.policies import FiniteObservationMixin
from sb3_mixture.common.sac_policies import MixtureActorMixin, MixturePolicyMixin


def _branch_free_batch_renorm_forward(self: Any, x: th.Tensor) -> th.Tensor:  # Any: buffers typed as modules
    """sb3-contrib's ``BatchRenorm1d.forward`` with its warm-up test (``steps > warmup_steps``, a Python branch on a
    tensor, which a ``fullgraph`` compiled step cannot hold) made a ``torch.where``: the same values on both sides."""
    if not self.training:
        return _normalize(self, x, self.ra_mean, self.ra_var)
    batch_mean, batch_var = x.mean(dim=0), x.var(dim=0)
    batch_std = (batch_var + self.eps).sqrt()
    running_std = (self.ra_var + self.eps).sqrt()
    r = (batch_std / running_std).detach().clamp(1 / self.rmax, self.rmax)
    d = ((batch_mean - self.ra_mean) / running_std).detach().clamp(-self.dmax, self.dmax)
    renormalising = self.steps > self.warmup_steps
    custom_mean = th.where(renormalising, batch_mean - d * batch_var.sqrt() / r, batch_mean)
    custom_var = th.where(renormalising, batch_var / (r**2), batch_var)
    self.ra_mean += self.momentum * (batch_mean.detach() - self.ra_mean)
    self.ra_var += self.momentum * (batch_var.detach() - self.ra_var)
    self.steps += 1
    return _normalize(self, x, custom_mean, custom_var)


def _normalize(layer: Any, x: th.Tensor, mean: th.Tensor, var: th.Tensor) -> th.Tensor:
    x = (x - mean[None]) / (var[None] + layer.eps).sqrt()
    return layer.scale * x + layer.bias if layer.affine else x


def make_batch_renorm_traceable(module: nn.Module) -> None:
    """Give every ``BatchRenorm1d`` inside ``module`` the branch-free forward (an instance attribute: the layer's
    parameters, buffers and saved state are untouched), so a compiled step traces it whole."""
    for layer in module.modules():
        if isinstance(layer, BatchRenorm1d):
            layer.forward = types.MethodType(_branch_free_batch_renorm_forward, layer)  # type: ignore[method-assign]


class CrossQMixtureActor(MixtureActorMixin, Actor):  # type: ignore[misc]
    """
    CrossQ's actor (its trunk with BatchRenorm layers, ``set_bn_training_mode``) with the mixture's heads
    (:class:`~sb3_mixture.common.sac_policies.MixtureActorMixin`).

    Parameters as :class:`~sb3_mixture.common.sac_policies.MixtureActorMixin` and
    :class:`sb3_contrib.crossq.policies.Actor` (``batch_norm``, ``batch_norm_momentum``, ...).
    """

    action_dist: SquashedGaussianMixture  # type: ignore[assignment]
    log_std: nn.Linear  # type: ignore[assignment]


class CrossQMixturePolicy(MixturePolicyMixin, FiniteObservationMixin, CrossQPolicy):  # type: ignore[misc]
    """
    CrossQ policy (actor and batch-renormalised critics, no target) whose actor is a squashed Gaussian mixture
    (:class:`CrossQMixtureActor`). Its BatchRenorm layers read the training mode, so every mode switch is CrossQ's own.

    Adam keeps CrossQ's default ``betas=(0.5, 0.999)`` when ``optimizer_kwargs`` is not given, and runs fused.

    Parameters as :class:`~sb3_mixture.common.sac_policies.MixturePolicyMixin` and
    :class:`sb3_contrib.crossq.policies.CrossQPolicy`; ``use_sde`` must be False.
    """

    actor_class = CrossQMixtureActor
    actor: CrossQMixtureActor  # type: ignore[assignment]

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        # Kept in plain lists, out of the module tree: the layers the mode switches reach.
        self._actor_batch_renorms = [layer for layer in self.actor.modules() if isinstance(layer, BatchRenorm1d)]
        self._critic_batch_renorms = [layer for layer in self.critic.modules() if isinstance(layer, BatchRenorm1d)]

    def set_batch_renorm_modes(self, actor: bool, critic: bool) -> None:
        """The training mode of the actor's and of the critics' BatchRenorm layers (CrossQ's ``set_bn_training_mode``),
        set on the layers directly: a compiled step cannot walk a module tree whose layers it has just switched."""
        for layer in self._actor_batch_renorms:
            layer.training = actor
        for layer in self._critic_batch_renorms:
            layer.training = critic

    @staticmethod
    def _default_optimizer_kwargs(kwargs: dict[str, Any]) -> dict[str, Any] | None:
        optimizer_kwargs = kwargs.get("optimizer_kwargs")
        if optimizer_kwargs is None and kwargs.get("optimizer_class", th.optim.Adam) in (th.optim.Adam, th.optim.AdamW):
            return {"betas": (0.5, 0.999)}  # CrossQPolicy's own default, which an explicit dict would replace
        return optimizer_kwargs


MlpPolicy = CrossQMixturePolicy


class CnnPolicy(CrossQMixturePolicy):
    """:class:`CrossQMixturePolicy` with SB3's ``NatureCNN`` features extractor, for image observations."""

    def __init__(self, *args: Any, features_extractor_class: type = NatureCNN, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class MultiInputPolicy(CrossQMixturePolicy):
    """:class:`CrossQMixturePolicy` with SB3's ``CombinedExtractor``, for ``Dict`` observations."""

    def __init__(self, *args: Any, features_extractor_class: type = CombinedExtractor, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


__all__ = [
    "CnnPolicy",
    "CrossQMixtureActor",
    "CrossQMixturePolicy",
    "MlpPolicy",
    "MultiInputPolicy",
    "make_batch_renorm_traceable",
]
