"""Locations the project reads from, each overridable by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # HematomaExpansionLib/
RESOURCES_DIR = PACKAGE_DIR / "resources"


def shared_data_dir() -> Path:
    """Development/test data (real CTs, real lesion masks). Never required at run time.

    ``HEMEXP_SHARED_DATA`` overrides; default is ``../shared/data`` beside the checkout.
    """
    env = os.environ.get("HEMEXP_SHARED_DATA")
    if env:
        return Path(env)
    return PACKAGE_DIR.parents[2] / "shared" / "data"


def models_dir() -> Path:
    """Bundled weights and manifest. ``HEMEXP_MODELS_DIR`` overrides.

    Source checkout: <repo>/models. Installed Slicer extension: <module>/Resources/models.
    """
    env = os.environ.get("HEMEXP_MODELS_DIR")
    if env:
        return Path(env)
    for candidate in (PACKAGE_DIR.parents[1] / "models", PACKAGE_DIR.parent / "Resources" / "models"):
        if (candidate / "manifest.json").exists():
            return candidate
    return PACKAGE_DIR.parents[1] / "models"


def cache_dir() -> Path:
    """Per-case feature cache for training/evaluation. ``HEMEXP_CACHE_DIR`` overrides."""
    env = os.environ.get("HEMEXP_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "hematoma-expansion"
