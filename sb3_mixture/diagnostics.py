"""
Gradient-variance measurement of He et al. 2026 (Appendix F.1, their Figure 23).

For a fixed actor and one fixed minibatch, the actor gradient is recomputed ``n_repeats`` times with fresh
noise for each estimator; the spread of those gradients is summarised by the trace of their covariance
(the sum over actor parameters of the gradient's variance). Lower is better; every estimator sees the same
actor, critic, minibatch and entropy coefficient. Any SAC-family model can be measured with its own actor loss;
comparing estimators needs a :class:`~sb3_mixture.SACMixture` (the other algorithms have one loss each).
"""

from collections.abc import Callable, Mapping, Sequence

import torch as th

from sb3_mixture.common.estimators import ActorLoss, MixtureEstimator
from sb3_mixture.common.sac_family import Minibatch, SACFamily
from sb3_mixture.sac_mixture import SACMixture

OWN_LOSS = "own"


def flat_gradient(loss: th.Tensor, parameters: Sequence[th.Tensor]) -> th.Tensor:
    """The gradient of ``loss`` with respect to ``parameters``, flattened into one vector (zeros where unused)."""
    gradients = th.autograd.grad(loss, list(parameters), allow_unused=True)
    return th.cat([(g if g is not None else th.zeros_like(p)).flatten() for g, p in zip(gradients, parameters, strict=True)])


def actor_gradient_samples(model: SACFamily, actor_loss: Callable[[], ActorLoss], n_repeats: int) -> th.Tensor:
    """``n_repeats`` gradients of ``actor_loss()`` (flattened over the trainable actor parameters), each with fresh
    noise: ``[R, P]``."""
    parameters = [param for param in model.actor.parameters() if param.requires_grad]
    return th.stack([flat_gradient(actor_loss().loss, parameters) for _ in range(n_repeats)])


def gradient_covariance_trace(
    model: SACFamily,
    estimators: Mapping[str, MixtureEstimator] | None = None,
    batch_size: int = 256,
    n_repeats: int = 100,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """
    Trace of the covariance of the actor gradient on one minibatch from the replay buffer: per estimator of
    ``estimators`` (a :class:`~sb3_mixture.SACMixture` only), or, without them, of the model's own actor loss
    (under the name ``"own"``).

    :return: per estimator name: ``trace`` (sum of per-parameter variances) and ``mean_norm`` (norm of the
        mean gradient, for scale)
    """
    assert model.replay_buffer is not None and model.replay_buffer.size() > 0, "train the model first"
    if estimators is not None and not isinstance(model, SACMixture):
        raise ValueError(
            f"estimators can be compared on a SACMixture only; {type(model).__name__} has one actor loss of its own "
            "(call gradient_covariance_trace without estimators to measure it)"
        )
    th.manual_seed(seed)
    replay_data = model.replay_buffer.sample(batch_size, env=model._vec_normalize_env)
    minibatch = Minibatch(replay_data, model.gamma, model._entropy_coefficient(), replay_data)
    model.policy.set_training_mode(False)
    losses: dict[str, Callable[[], ActorLoss]] = {OWN_LOSS: lambda: model._actor_loss(minibatch)}
    if estimators is not None:
        assert isinstance(model, SACMixture)
        losses = {name: _estimator_loss(model, estimator, minibatch) for name, estimator in estimators.items()}
    results = {}
    for name, actor_loss in losses.items():
        samples = actor_gradient_samples(model, actor_loss, n_repeats)
        results[name] = {"trace": samples.var(dim=0).sum().item(), "mean_norm": samples.mean(dim=0).norm().item()}
    return results


def _estimator_loss(model: SACMixture, estimator: MixtureEstimator, minibatch: Minibatch) -> Callable[[], ActorLoss]:
    observations = minibatch.actor_data.observations

    def actor_loss() -> ActorLoss:
        distribution = model.actor.get_distribution(observations)
        return model.estimator_actor_loss(estimator, distribution, observations, minibatch.ent_coef)

    return actor_loss
