"""Shared fixtures. Real data (../shared/data or $HEMEXP_SHARED_DATA) is optional: tests needing it skip."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

from HematomaExpansionLib.core.config import shared_data_dir  # noqa: E402
from HematomaExpansionLib.simulation.sample import make_sample_case  # noqa: E402


def _shared(sub: str):
    path = shared_data_dir() / sub
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (set HEMEXP_SHARED_DATA to the shared data folder)")
    return path


@pytest.fixture(scope="session")
def mistie_ct_path():
    return _shared("realct/mistie_0034.nii.gz")


@pytest.fixture(scope="session")
def normal_ct_path():
    return _shared("realct/cranium_invesalius.nii.gz")


@pytest.fixture(scope="session")
def lesion_masks_dir():
    return _shared("lesion_masks/hemseg500")


@pytest.fixture(scope="session")
def sample_case():
    """(ct, true labels, info) of the generated phantom; session-scoped, do not mutate."""
    return make_sample_case(0)


@pytest.fixture(scope="session")
def small_sample_case():
    """A smaller phantom for fast tests (16 slices of 128×128 at 1.8 mm × 8 mm)."""
    return make_sample_case(1, shape=(20, 128, 128), spacing=(8.0, 1.8, 1.8), hematoma_ml=25.0)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
