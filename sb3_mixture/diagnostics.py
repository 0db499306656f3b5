"""
Gradient-variance measurement of He et al. 2026 (Appendix F.1, their Figure 23).

For a fixed actor and one fixed minibatch, the actor gradient is recomputed ``n_repeats`` times with fresh
noise for each estimator; the spread of those gradients is summarised by the trace of their covariance
(the sum over actor parameters of the gradient's variance). Lower is better; every estimator sees the same
actor, critic, minibatch and entropy coefficient.
"""

from collections.abc import Mapping, Sequence

import torch as th

from sb3_mixture.common.estimators import MixtureEstimator
from sb3_mixture.sac_mixture import SACMixture


def flat_gradient(loss: th.Tensor, parameters: Sequence[th.Tensor]) -> th.Tensor:
    """The gradient of ``loss`` with respect to ``parameters``, flattened into one vector (zeros where unused)."""
    gradients = th.autograd.grad(loss, list(parameters), allow_unused=True)
    return th.cat([(g if g is not None else th.zeros_like(p)).flatten() for g, p in zip(gradients, parameters, strict=True)])


def actor_gradient_samples(
    model: SACMixture, estimator: MixtureEstimator, observations: th.Tensor, n_repeats: int
) -> th.Tensor:
    """``n_repeats`` actor gradients (flattened over the trainable actor parameters) with fresh noise: ``[R, P]``."""
    parameters = [param for param in model.actor.parameters() if param.requires_grad]
    ent_coef = model._entropy_coefficient()
    rows = []
    for _ in range(n_repeats):
        distribution = model.actor.get_distribution(observations)
        rows.append(flat_gradient(model._actor_loss(distribution, observations, ent_coef, estimator).loss, parameters))
    return th.stack(rows)


def gradient_covariance_trace(
    model: SACMixture,
    estimators: Mapping[str, MixtureEstimator],
    batch_size: int = 256,
    n_repeats: int = 100,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """
    Trace of the covariance of the actor gradient, per estimator, on one minibatch from the replay buffer.

    :return: per estimator name: ``trace`` (sum of per-parameter variances) and ``mean_norm`` (norm of the
        mean gradient, for scale)
    """
    assert model.replay_buffer is not None and model.replay_buffer.size() > 0, "train the model first"
    th.manual_seed(seed)
    observations = model.replay_buffer.sample(batch_size, env=model._vec_normalize_env).observations
    model.policy.set_training_mode(False)
    results = {}
    for name, estimator in estimators.items():
        samples = actor_gradient_samples(model, estimator, observations, n_repeats)
        results[name] = {"trace": samples.var(dim=0).sum().item(), "mean_norm": samples.mean(dim=0).norm().item()}
    return results
