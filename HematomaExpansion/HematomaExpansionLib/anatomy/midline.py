"""Midsagittal plane of a head, fitted to its intracranial mask (canonical axial array).

The intracranial space is bilaterally symmetric, so on the axial slices the midline is the line
about which the intracranial cross-section is its own mirror image. The cross-sections of the
larger slices are pooled about each slice's own centroid (so a head rolled to one side does not
smear them), the mirror axis is searched within ``MAX_TURN_DEG`` of the image's front-to-back axis
(``_mirror_axis_angle``), and the centroids are fitted by a straight line across slices (a roll
moves the midline sideways from slice to slice). Until post-8 (2026-12-06) the axis was the
cross-section's long axis (second moments); a head is only ≈ 20 % longer than wide, and on near-round
heads that axis is arbitrary: on 30 domain-randomised engine heads (turned ≤ 12°) it was about 30°
off on one, whose painted falx the network then read as 5.4 mL of IVH, and 10–14° off on two more;
the mirror axis puts those three within ~3° of the angle their derivation implies. (One head the
engine sheared is 31° off by both fits.) Midpoints of left-right chords do not follow a turned
rounded head, and a 3D principal axis is unstable because a head is about as tall as it is wide.
Asymmetric content inside the skull (a hematoma, a shift) is intracranial tissue too and barely
moves the axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

MIN_SLICE_FRACTION = 0.3  # slices with at least this share of the largest cross-section
MIN_SLICES = 3
MIN_SLICE_VOXELS = 200
# the midline is searched within this many degrees of the image's front-to-back axis
MAX_TURN_DEG = 40.0
SYMMETRY_BIN_MM = 4.0
SYMMETRY_POINTS = 60000
SYMMETRY_TIE = 0.001
# every 2nd pixel of slices ≥ 2 mm apart: a thin-slice scan's fit sits on segmentation's path
SAMPLE_PIXEL_STEP = 2
SAMPLE_SLICE_MM = 2.0


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


def _mirror_axis_angle(points: np.ndarray, bin_mm: float) -> float:
    """Angle (radians, from the image's row axis) of the line through the origin about which the pooled
    cross-sections ``points`` (row, column mm about each slice's centroid) are most nearly their own
    mirror image: the smallest share of occupancy (``bin_mm`` bins, smoothed) that the reflection does
    not match, over ±``MAX_TURN_DEG`` in 1° steps and then 0.2° steps around the best. Where angles tie
    within ``SYMMETRY_TIE`` (a round cross-section mirrors onto itself about any axis) the one nearest
    0° wins."""
    pts = points[:: max(1, len(points) // SYMMETRY_POINTS)]
    lo = pts.min(axis=0) - bin_mm
    shape = (np.ceil((pts.max(axis=0) - lo) / bin_mm) + 3).astype(int)

    def occupancy(p: np.ndarray) -> np.ndarray:
        ij = np.clip(np.floor((p - lo) / bin_mm).astype(int), 0, shape - 1)
        counts = np.bincount(ij[:, 0] * shape[1] + ij[:, 1], minlength=int(shape[0] * shape[1]))
        return ndi.gaussian_filter(counts.reshape(shape).astype(np.float64), 1.0)

    own = occupancy(pts)
    total = own.sum()

    def mismatch(theta: float) -> float:
        m = np.array([np.cos(theta), np.sin(theta)])
        return float(np.abs(own - occupancy(2.0 * (pts @ m)[:, None] * m - pts)).sum() / total)

    coarse = np.radians(np.arange(-MAX_TURN_DEG, MAX_TURN_DEG + 0.5, 1.0))
    scores = np.array([mismatch(t) for t in coarse])
    tied = np.nonzero(scores <= scores.min() + SYMMETRY_TIE)[0]
    best = coarse[tied[np.argmin(np.abs(coarse[tied]))]]
    if len(tied) > 1 and np.ptp(coarse[tied]) > np.radians(2.0):
        return float(best)
    fine = best + np.radians(np.arange(-1.0, 1.01, 0.2))
    return float(fine[int(np.argmin([mismatch(t) for t in fine]))])


def fit_midsagittal_plane(brain: np.ndarray, spacing) -> MidsagittalPlane | None:
    """The midsagittal plane of ``brain`` (canonical intracranial mask), or None when it is too small."""
    sp = np.asarray(spacing, np.float64)
    area = brain.sum(axis=(1, 2))
    if area.max(initial=0) < MIN_SLICE_VOXELS:
        return None
    ks = np.nonzero(area >= max(MIN_SLICE_VOXELS, MIN_SLICE_FRACTION * area.max()))[0]
    if len(ks) < MIN_SLICES and len(ks) < np.count_nonzero(area):
        ks = np.nonzero(area)[0]
    ks = ks[:: max(1, int(round(SAMPLE_SLICE_MM / sp[0])))]
    step = SAMPLE_PIXEL_STEP
    centres, offsets = [], []
    for k in ks:
        yx = np.argwhere(brain[k, ::step, ::step]).astype(np.float64) * (step * sp[1:])
        c = yx.mean(axis=0)
        centres.append(c)
        offsets.append(yx - c)
    # bins at least twice the sampling pitch: finer ones alias with the pixel lattice and favour 0°/90°
    angle = _mirror_axis_angle(np.concatenate(offsets), max(SYMMETRY_BIN_MM, 2.0 * step * float(max(sp[1:]))))
    major = np.array([np.cos(angle), np.sin(angle)])  # front-to-back, (row, column)
    normal = np.array([-major[1], major[0]])
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
