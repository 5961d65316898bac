"""Midsagittal plane of a head, fitted to its intracranial mask (canonical axial array).

The intracranial space is bilaterally symmetric and longer front-to-back than side-to-side (by
≈ 20 %), so on the axial slices the midline runs along the major principal axis of the intracranial
cross-section, through its centroid. The axis is pooled over the larger slices (second moments
about each slice's own centroid, so a head rolled to one side does not smear it), and the centroids
are fitted by a straight line across slices (a roll moves the midline sideways from slice to slice).
This follows a head turned or tilted by the ±10–15° seen in practice; the midpoints of left-right
chords do not (on a rounded head they stay on one column even when the head is turned), and a 3D
principal axis is unstable because a head is about as tall as it is wide. Asymmetric content inside
the skull (a hematoma, a shift) is intracranial tissue too and barely moves the axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SLICE_FRACTION = 0.3  # slices with at least this share of the largest cross-section
MIN_SLICES = 3
MIN_SLICE_VOXELS = 200
# a cross-section this close to round has no reliable long axis: the image's own columns are used
MAX_AXIS_RATIO = 0.92
# moments from every 2nd pixel of slices ≥ 2 mm apart: a thin-slice scan's fit sits on segmentation's path
MOMENT_PIXEL_STEP = 2
MOMENT_SLICE_MM = 2.0


@dataclass(frozen=True)
class MidsagittalPlane:
    """In-plane normal (row, column) and a midline point per slice: (row, column) mm = a + b·(slice mm)."""

    normal: tuple[float, float]
    a: tuple[float, float]
    b: tuple[float, float]
    spacing: tuple[float, float, float]
    slices: tuple[int, int] = (0, 0)  # first and last slice of the intracranial space

    def height_fraction(self, z: float) -> float:
        """Where slice ``z`` lies between the lowest (0) and highest (1) intracranial slice."""
        lo, hi = self.slices
        return (z - lo) / (hi - lo) if hi > lo else 0.5

    def _point_mm(self, z):
        """The plane's (row, column) point in mm on slice(s) ``z``."""
        zm = np.asarray(z) * self.spacing[0]
        return self.a[0] + self.b[0] * zm, self.a[1] + self.b[1] * zm

    def signed_distance_mm(self, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Left-right distance (mm) of voxels (index arrays) from the plane, signed by the side they lie on."""
        s = self.spacing
        cy, cx = self._point_mm(z)
        return self.normal[0] * (np.asarray(y) * s[1] - cy) + self.normal[1] * (np.asarray(x) * s[2] - cx)

    def distance_mm(self, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Left-right distance (mm, ≥ 0) of voxels (index arrays) from the plane."""
        return np.abs(self.signed_distance_mm(z, y, x))

    def column_at(self, z: float, y: float) -> float:
        """Column index where the plane crosses slice ``z``, row ``y``."""
        s = self.spacing
        cy, cx = self._point_mm(z)
        return float((cx - self.normal[0] * (y * s[1] - cy) / self.normal[1]) / s[2])


def fit_midsagittal_plane(brain: np.ndarray, spacing) -> MidsagittalPlane | None:
    """The midsagittal plane of ``brain`` (canonical intracranial mask), or None when it is too small."""
    sp = np.asarray(spacing, np.float64)
    area = brain.sum(axis=(1, 2))
    if area.max(initial=0) < MIN_SLICE_VOXELS:
        return None
    ks = np.nonzero(area >= max(MIN_SLICE_VOXELS, MIN_SLICE_FRACTION * area.max()))[0]
    if len(ks) < MIN_SLICES and len(ks) < np.count_nonzero(area):
        ks = np.nonzero(area)[0]
    ks = ks[:: max(1, int(round(MOMENT_SLICE_MM / sp[0])))]
    step = MOMENT_PIXEL_STEP
    cov = np.zeros((2, 2))
    centres = []
    for k in ks:
        yx = np.argwhere(brain[k, ::step, ::step]).astype(np.float64) * (step * sp[1:])
        c = yx.mean(axis=0)
        d = yx - c
        cov += d.T @ d
        centres.append(c)
    values, vectors = np.linalg.eigh(cov)
    major = vectors[:, 1]  # front-to-back
    normal = np.array([-major[1], major[0]]) if values[0] < MAX_AXIS_RATIO * values[1] else np.array([0.0, 1.0])
    normal = normal if normal[1] > 0 else -normal
    zs = ks.astype(np.float64) * sp[0]
    centres = np.asarray(centres)
    if len(ks) >= 2 and np.ptp(zs) > 0:
        (by, ay), (bx, ax) = np.polyfit(zs, centres[:, 0], 1), np.polyfit(zs, centres[:, 1], 1)
    else:
        (ay, ax), by, bx = centres.mean(axis=0), 0.0, 0.0
    present = np.nonzero(area)[0]
    return MidsagittalPlane((float(normal[0]), float(normal[1])), (float(ay), float(ax)), (float(by), float(bx)),
                            tuple(float(v) for v in sp), (int(present[0]), int(present[-1])))
