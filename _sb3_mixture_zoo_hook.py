"""
Start-up hook of sb3-mixture (loaded by ``sb3_mixture_zoo.pth`` in site-packages): registers the package's
algorithms with RL Zoo, but only when RL Zoo itself is imported.

RL Zoo has no plugin API: ``python -m rl_zoo3.train --algo sac_mrp`` validates ``--algo`` against
``rl_zoo3.utils.ALGOS`` before any user module could be imported. This module puts a finder on
``sys.meta_path`` that lets the rl_zoo3 modules load normally and then hands each of them to
``sb3_mixture.zoo.patch_module``. It imports nothing but the standard library (so no torch at start-up),
never raises, and does nothing when the environment variable ``SB3_MIXTURE_NO_ZOO_HOOK`` is set to a
non-empty value other than ``0``.
"""

import os
import sys
import warnings
from typing import Any

OPT_OUT_VARIABLE = "SB3_MIXTURE_NO_ZOO_HOOK"
PATCHED_MODULES = frozenset({"rl_zoo3.utils", "rl_zoo3.hyperparams_opt", "rl_zoo3.exp_manager"})


def _patch(module: Any) -> None:
    try:
        from sb3_mixture.zoo import patch_module

        patch_module(module)
    except Exception as error:  # a broken plugin must never break RL Zoo itself
        warnings.warn(f"sb3-mixture could not register its algorithms with RL Zoo ({module.__name__}): {error!r}")


class _PatchingLoader:
    """Delegates to the real loader, then patches the freshly executed module."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        _patch(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... for tracebacks and tools
        return getattr(self._loader, name)


class RlZooFinder:
    """Meta-path finder for the three rl_zoo3 modules that hold what an algorithm plug-in must extend."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in PATCHED_MODULES:
            return None
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _PatchingLoader(spec.loader)  # type: ignore[assignment]
                    return spec
        except Exception:
            return None
        return None


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once), unless opted out."""
    try:
        if os.environ.get(OPT_OUT_VARIABLE, "") not in ("", "0"):
            return
        if not any(isinstance(finder, RlZooFinder) for finder in sys.meta_path):
            sys.meta_path.insert(0, RlZooFinder())
    except Exception:
        pass


install()
