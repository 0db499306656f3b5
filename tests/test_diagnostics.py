"""The gradient-variance diagnostic (MRP paper, F.1) on a briefly trained model."""

import pytest
import torch as th

from sb3_mixture import SACMixture
from sb3_mixture.common.distributions import SquashedGaussianMixture
from sb3_mixture.common.estimators import ActorLoss, MixtureEstimator, QFunction, make_estimator
from sb3_mixture.diagnostics import gradient_covariance_trace


class NoiselessEstimator(MixtureEstimator):
    """A loss with no sampling in it: its gradient is the same every time, so the trace must be 0."""

    name = "noiseless"

    def actor_loss(self, distribution: SquashedGaussianMixture, q_function: QFunction, ent_coef: th.Tensor) -> ActorLoss:
        return ActorLoss(loss=distribution.mean.square().mean() + distribution.logits.mean(), entropy_log_prob=th.zeros(1))


@pytest.fixture(scope="module")
def model() -> SACMixture:
    model = SACMixture(
        "MlpPolicy",
        "Pendulum-v1",
        learning_starts=100,
        batch_size=64,
        policy_kwargs=dict(net_arch=[64, 64], n_components=3),
        seed=0,
    )
    return model.learn(400)


def test_covariance_trace(model: SACMixture) -> None:
    estimators = {
        "noiseless": NoiselessEstimator(),
        "mrp": make_estimator("mrp"),
        "lr": make_estimator("lr"),
        "lr_no_baseline": make_estimator("lr", baseline=False),
    }
    traces = {name: result["trace"] for name, result in gradient_covariance_trace(model, estimators, 64, 30).items()}
    assert traces["noiseless"] == pytest.approx(0.0, abs=1e-12)
    # Measured here (400 steps of training): LR without a baseline ~50, with it ~0.02, MRP ~0.1.
    assert traces["lr_no_baseline"] > 100 * traces["lr"]
    assert traces["lr_no_baseline"] > 100 * traces["mrp"]
    assert traces["mrp"] > 0


def test_an_algorithm_with_its_own_loss_is_measured_on_it_and_refuses_estimators() -> None:
    """SACM has one actor loss: asking for the estimators' variance on it is an error (it used to return SACM's loss
    under every estimator's name); its own loss is measured under ``"own"``, and it is noisy (a sampled loss)."""
    from sb3_mixture import SACM

    model = SACM("MlpPolicy", "Pendulum-v1", learning_starts=50, batch_size=32, policy_kwargs=dict(net_arch=[16]), seed=0)
    model.learn(100)
    with pytest.raises(ValueError, match="estimators can be compared on a SACMixture only"):
        gradient_covariance_trace(model, {"mrp": make_estimator("mrp")}, 32, 5)
    (name, result), *_ = gradient_covariance_trace(model, None, 32, 10).items()
    assert name == "own" and result["trace"] > 0
