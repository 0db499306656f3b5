"""Sphinx configuration of the sb3-mixture documentation (built with ``sphinx-build -W -b html docs docs/_build/html``)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "sb3-mixture"
author = "sb3-mixture developers"
with open(os.path.join(os.path.dirname(__file__), "..", "sb3_mixture", "version.txt")) as version_file:
    release = version_file.read().strip()
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# SB3's own docstrings are SB3's to render: our pages show what this package adds.
autodoc_inherit_docstrings = False
autosummary_generate = False
intersphinx_mapping = {}  # no network at build time: SB3 and PyTorch are named, not linked
nitpicky = False

templates_path: list[str] = []
exclude_patterns = ["_build"]
html_theme = "sphinx_rtd_theme"
html_title = f"sb3-mixture {release}"
