"""
The package inside RL Zoo: ``patch_module`` is called by the start-up hook (``_sb3_mixture_zoo_hook``) right after
each of ``rl_zoo3.utils``, ``rl_zoo3.hyperparams_opt`` and ``rl_zoo3.exp_manager`` is executed, and adds the keys,
samplers and converters to their tables; ``register()`` does the same for modules already imported, for use from
Python or when the hook is disabled.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from sb3_mixture.zoo.registry import algorithms, config_path, sac_estimator_keys, zoo_entries
from sb3_mixture.zoo.search_spaces import converters, samplers


def _default_config_init(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap ``ExperimentManager.__init__``: our keys read the package's YAML when no --conf-file is given, and
    each SACMixture key runs its own estimator whatever the file says (``--hyperparams`` still overrides)."""

    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        arguments = signature.bind(self, *args, **kwargs).arguments
        algo = arguments.get("algo")
        if algo in zoo_entries() and arguments.get("config") is None:
            self.config = config_path(algo)
        estimator = sac_estimator_keys().get(algo) if isinstance(algo, str) else None
        if estimator is not None:
            self.custom_hyperparams = {"estimator": estimator, **(self.custom_hyperparams or {})}

    wrapped.__sb3_mixture__ = True  # type: ignore[attr-defined]
    return wrapped


def import_environment_packages() -> None:
    """Register DeepMind Control's ``dm_control/...`` ids when Shimmy is installed (the ``dmc`` extra), as RL Zoo's
    ``import_envs`` registers the packages it knows: ``rl_zoo3.train --env dm_control/cartpole-swingup-v0`` then needs no
    ``--gym-packages``. dm_control warns at import that a headless machine has no display for GLFW; training does not
    render, so that warning is silenced here (rendering later still reports it)."""
    import contextlib
    import warnings

    with warnings.catch_warnings(), contextlib.suppress(ImportError):
        warnings.filterwarnings("ignore", message=".*DISPLAY.*")
        import shimmy  # noqa: F401  (its import registers the ids)


def patch_module(module: ModuleType) -> None:
    """Extend one rl_zoo3 module with the package's algorithms (idempotent)."""
    name = module.__name__
    if name == "rl_zoo3.utils":
        module.ALGOS.update(algorithms())
        import_environment_packages()
    elif name == "rl_zoo3.hyperparams_opt":
        module.HYPERPARAMS_SAMPLER.update(samplers())
        module.HYPERPARAMS_CONVERTER.update(converters())
    elif name == "rl_zoo3.exp_manager":
        from sb3_mixture.common.torch_layers import MlpTrunk

        # RL Zoo evaluates policy_kwargs strings in this module's namespace: YAML can then name the trunk.
        module.MlpTrunk = MlpTrunk  # type: ignore[attr-defined]
        manager = module.ExperimentManager
        if not getattr(manager.__init__, "__sb3_mixture__", False):
            manager.__init__ = _default_config_init(manager.__init__)


def register() -> None:
    """Register the package's algorithms with RL Zoo now (imports rl_zoo3)."""
    for name in ("rl_zoo3.utils", "rl_zoo3.hyperparams_opt", "rl_zoo3.exp_manager"):
        patch_module(sys.modules.get(name) or importlib.import_module(name))
