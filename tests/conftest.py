"""The algorithms every parametrised test runs over: one entry per RL Zoo key of the package."""

from typing import Any

import pytest
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_mixture import S2ACM, SACAWMP, SACGMM, SACM, SACPMOE, SACMixture

# (id, class, constructor keywords) — later estimators and algorithms add themselves here.
ALGORITHMS: list[tuple[str, type[BaseAlgorithm], dict[str, Any]]] = [
    ("sac_mrp", SACMixture, dict(estimator="mrp")),
    ("sac_halfrp", SACMixture, dict(estimator="half_rp")),
    ("sac_gumbelrp", SACMixture, dict(estimator="gumbel_rp")),
    ("sac_lr", SACMixture, dict(estimator="lr")),
    ("sac_usgm", SACMixture, dict(estimator="uniform_rp")),
    ("sacm", SACM, {}),
    ("s2acm", S2ACM, {}),
    ("sac_pmoe", SACPMOE, {}),
    ("sac_gmm", SACGMM, {}),
    ("sac_awmp", SACAWMP, {}),
]

# Small and fast: every test is about behaviour, not learning.
FAST_KWARGS: dict[str, Any] = dict(learning_starts=50, batch_size=32, buffer_size=1_000, policy_kwargs=dict(net_arch=[32, 32]))


def algorithm_params() -> list[Any]:
    return [pytest.param(cls, kwargs, id=key) for key, cls, kwargs in ALGORITHMS]
