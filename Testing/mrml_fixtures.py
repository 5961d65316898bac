"""A real MRML scene on slicer-core (no Qt), as Slicer's own module logics set it up.

Import the fixtures into a test module with ``from mrml_fixtures import mrml_scene  # noqa: F401``,
or define a local ``mrml_scene`` fixture that does ``yield from fresh_scene(monkeypatch)``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core==5.13.31053.0)")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("the installed 'slicer' package is not slicer-core", allow_module_level=True)

MODULE_DIR = Path(__file__).resolve().parents[1] / "HematomaExpansion"
if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))


def make_scene():
    """A fresh scene with application, colors, volumes and segmentations logics registered."""
    scene = slicer.vtkMRMLScene()
    app = slicer.vtkSlicerApplicationLogic()
    app.SetMRMLScene(scene)
    colors = app.GetColorLogic()
    colors.SetMRMLScene(scene)
    colors.AddDefaultColorNodes()
    app.SetModuleLogic("Colors", colors)
    volumes = slicer.vtkSlicerVolumesLogic()
    segs = slicer.vtkSlicerSegmentationsModuleLogic()
    for logic, name in ((volumes, "Volumes"), (segs, "Segmentations")):
        logic.SetMRMLScene(scene)
        logic.SetMRMLApplicationLogic(app)
        app.SetModuleLogic(name, logic)
    keep = (app, colors, volumes, segs)  # the logics must outlive the test
    return scene, keep, SimpleNamespace(volumes=SimpleNamespace(logic=lambda: volumes),
                                        segmentations=SimpleNamespace(logic=lambda: segs))


def fresh_scene(monkeypatch):
    """Generator behind ``mrml_scene``: ``slicer.mrmlScene`` is a fresh scene until it resumes."""
    scene, keep, modules = make_scene()
    monkeypatch.setattr(slicer, "mrmlScene", scene, raising=False)
    monkeypatch.setattr(slicer, "modules", modules, raising=False)
    yield scene
    scene.Clear(1)
    del keep


@pytest.fixture
def mrml_scene(monkeypatch):
    yield from fresh_scene(monkeypatch)


def rotation(axis: str, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def head_like_ct(shape=(20, 40, 36), spacing=(0.7, 0.8, 4.0), direction=None, seed: int = 0):
    """A small CT-like HU volume (air, skull, brain, a bleed) on an arbitrary grid. spacing is (i, j, k)."""
    from HematomaExpansionLib.core.ct_image import CTImage

    rng = np.random.default_rng(seed)
    k, j, i = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    r = np.sqrt(i**2 + j**2 + k**2)
    hu = np.full(shape, -1000.0, np.float32)
    hu[r < 0.95] = 900.0
    hu[r < 0.8] = 35.0
    hu[(i - 0.2) ** 2 + j**2 + k**2 < 0.08] = 65.0
    hu += rng.normal(0, 3, shape).astype(np.float32)
    direction = np.eye(3) if direction is None else direction
    return CTImage(hu, spacing, (-12.5, 30.0, -40.0), direction, source="test-ct")
