"""Domain randomisation of the data engine: other scanners, and hard negatives painted on purpose.

Why: every simulated case is built from the same real heads, so a network trained on them
learns one scanner's noise, kernel and calibration, and has never seen the normal dense
structures other heads show. On an unseen scanner that became false blood: cortex against the
inner table at the vertex, partial volume next to the petrous bone, calcified pineal/choroid
plexus. Each case therefore draws (seeded, from its own random stream) a ``ScannerAppearance``:

Anatomy-level (``paint_scanner_anatomy``, before the acquisition variant, so the variant's slice
thickness gives these structures the partial volume of every thickness 0.5–7 mm):
- global HU offset of soft tissue (``HU_OFFSET`` ±6 HU) and grey/white contrast of brain
  (``BRAIN_CONTRAST`` ×0.8–1.25 around the brain's median);
- beam-hardening cupping: ``CUPPING_HU`` · r² inside the skull (r = 0 centre, 1 inner table);
- bright cortex next to the inner table: + ``CORTEX_HU`` fading over ``CORTEX_MM``;
- beam-hardening streaks between the petrous bones (lowest quarter of the brain, dark band with
  bright flanks, ``STREAK_HU``);
- hard negatives, all labelled background: calcifications (pineal, choroid plexus, basal
  ganglia, falx; ``CALCIFICATION_HU``), dense falx and tentorium (``DURA_HU``), hyperdense dural
  venous sinuses (superior sagittal, transverse; ``SINUS_HU``).
Acquisition-level (``apply_scanner_acquisition``, after the variant, on the final grid):
- reconstruction kernel: soft (in-plane Gaussian up to ``SOFT_KERNEL_MM``) or sharp (unsharp
  mask up to ``SHARP_KERNEL_GAIN``);
- extra scanner noise with its own texture: Gaussian field, SD ``NOISE_SD_HU``, in-plane
  correlation ``NOISE_GRAIN_MM``.
Blood labels never change; a hard negative is never painted over blood.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..anatomy.brain import BONE_HU
from ..anatomy.midline import fit_midsagittal_plane
from ..core.ct_image import CTImage
from ..core.morphology import ball
from .arrays import paste
from .backgrounds import Anatomy

HU_OFFSET = (-6.0, 6.0)
BRAIN_CONTRAST = (0.8, 1.25)
CUPPING_HU = (-4.0, 10.0)
CORTEX_HU = (0.0, 14.0)
CORTEX_MM = 3.0
STREAK_HU = (0.0, 25.0)
CALCIFICATION_HU = (90.0, 400.0)
DURA_HU = (48.0, 68.0)
SINUS_HU = (55.0, 75.0)
SOFT_KERNEL_MM = 0.8
SHARP_KERNEL_GAIN = 0.8
NOISE_SD_HU = (0.0, 6.0)
NOISE_GRAIN_MM = (0.3, 1.5)
HARD_NEGATIVES = ("pineal", "choroid", "basal_ganglia", "falx_calcification", "dense_falx", "tentorium",
                  "sagittal_sinus", "transverse_sinus")


@dataclass
class ScannerAppearance:
    """One scanner/head appearance. Defaults change nothing."""

    hu_offset: float = 0.0
    brain_contrast: float = 1.0
    cupping_hu: float = 0.0
    cortex_hu: float = 0.0
    streak_hu: float = 0.0
    kernel: float = 0.0  # < 0 soft, > 0 sharp, in −1..1
    noise_sd_hu: float = 0.0
    noise_grain_mm: float = 0.6
    hard_negatives: list[str] = field(default_factory=list)

    @classmethod
    def random(cls, rng: np.random.Generator) -> "ScannerAppearance":
        negatives = [n for n in HARD_NEGATIVES if rng.random() < 0.35]
        return cls(
            hu_offset=float(rng.uniform(*HU_OFFSET)),
            brain_contrast=float(rng.uniform(*BRAIN_CONTRAST)),
            cupping_hu=float(rng.uniform(*CUPPING_HU)),
            cortex_hu=float(rng.uniform(*CORTEX_HU)) if rng.random() < 0.6 else 0.0,
            streak_hu=float(rng.uniform(*STREAK_HU)) if rng.random() < 0.4 else 0.0,
            kernel=float(rng.uniform(-1.0, 1.0)),
            noise_sd_hu=float(rng.uniform(*NOISE_SD_HU)),
            noise_grain_mm=float(rng.uniform(*NOISE_GRAIN_MM)),
            hard_negatives=negatives,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paint_scanner_anatomy(ct: CTImage, labels: np.ndarray, an: Anatomy, app: ScannerAppearance,
                          rng: np.random.Generator) -> CTImage:
    """Anatomy-level effects of ``app`` on a painted case (``an``: the background's anatomy)."""
    hu = ct.to_canonical_array().astype(np.float32)
    blood = ct.to_canonical_array(labels) > 0
    sp = an.spacing
    brain = an.brain
    if not brain.any():
        return ct
    soft = (hu > -50) & (hu < 150)
    hu[soft] += app.hu_offset
    tissue = brain & ~blood & ~an.ventricles & (hu > 10) & (hu < 60)
    if tissue.any():
        med = float(np.median(hu[tissue]))
        hu[tissue] = med + (hu[tissue] - med) * app.brain_contrast
    inside = brain & (hu < BONE_HU)
    r2 = _radius_squared(brain, sp)
    hu[inside] += app.cupping_hu * r2[inside]
    if app.cortex_hu:
        w = np.clip(1.0 - an.depth / CORTEX_MM, 0.0, 1.0) * inside
        hu += app.cortex_hu * w
    if app.streak_hu:
        _petrous_streaks(hu, brain, sp, app.streak_hu, rng)
    for name in app.hard_negatives:
        region, value = _hard_negative(name, an, rng)
        if region is not None:
            region &= ~ndi.binary_dilation(blood, iterations=2) & (hu < BONE_HU)
            hu = np.where(region > 0, np.maximum(hu, value), hu)
    return CTImage(ct.from_canonical_array(hu.astype(np.float32)), ct.spacing, ct.origin, ct.direction.copy(),
                   ct.source, dict(ct.metadata))


def apply_scanner_acquisition(ct: CTImage, app: ScannerAppearance, rng: np.random.Generator) -> CTImage:
    """Kernel and noise texture of ``app`` on the case's final grid (in-plane, canonical slices)."""
    hu = ct.to_canonical_array().astype(np.float32)
    sp = ct.canonical_spacing()
    head = hu > -300
    if app.kernel < 0:
        sigma = -app.kernel * SOFT_KERNEL_MM
        hu = ndi.gaussian_filter(hu, (0, sigma / sp[1], sigma / sp[2]))
    elif app.kernel > 0:
        blurred = ndi.gaussian_filter(hu, (0, 1.0 / sp[1], 1.0 / sp[2]))
        hu = hu + app.kernel * SHARP_KERNEL_GAIN * (hu - blurred)
    if app.noise_sd_hu > 0:
        grain = (1e-3, app.noise_grain_mm, app.noise_grain_mm)
        noise = rng.standard_normal(hu.shape).astype(np.float32)
        noise = ndi.gaussian_filter(noise, [g / s for g, s in zip(grain, sp)])
        sd = float(noise.std())
        if sd > 0:
            hu = hu + (app.noise_sd_hu / sd) * noise * head
    hu = np.where(head, hu, np.minimum(hu, -300.0))
    return CTImage(ct.from_canonical_array(hu.astype(np.float32)), ct.spacing, ct.origin, ct.direction.copy(),
                   ct.source, dict(ct.metadata))


# --- geometry helpers ---------------------------------------------------------------------
def _radius_squared(brain: np.ndarray, sp) -> np.ndarray:
    """Per slice: (in-plane distance from the brain's centre / its radius)², 0 outside the brain."""
    out = np.zeros(brain.shape, np.float32)
    rows, cols = np.indices(brain.shape[1:], dtype=np.float32)
    for k in range(brain.shape[0]):
        m = brain[k]
        if m.sum() < 50:
            continue
        r, c = np.nonzero(m)
        rad = max(1.0, 0.5 * max(np.ptp(r) * sp[1], np.ptp(c) * sp[2]))
        d2 = ((rows - r.mean()) * sp[1]) ** 2 + ((cols - c.mean()) * sp[2]) ** 2
        out[k] = np.where(m, np.minimum(d2 / rad ** 2, 1.0), 0.0)
    return out


class _Midline:
    """The head's midsagittal plane (``anatomy.midline``), so midline structures follow a turned head;
    the brain's mean column when no plane can be fitted."""

    def __init__(self, brain: np.ndarray, sp) -> None:
        self.shape, self.sp = brain.shape, sp
        self.plane = fit_midsagittal_plane(brain, sp)
        self.fallback = float(np.nonzero(brain.any(axis=(0, 1)))[0].mean())

    def column(self, z: float, y: float) -> float:
        return self.plane.column_at(z, y) if self.plane is not None else self.fallback

    def lateral_mm(self, k: int | None = None) -> np.ndarray:
        """Left-right distance from the plane (mm): the whole grid, or slice ``k``."""
        s, h, w = self.shape
        z = np.arange(s)[:, None, None] if k is None else np.array(k)
        y, x = np.arange(h)[:, None], np.arange(w)[None, :]
        if self.plane is None:
            return np.broadcast_to(np.abs(x - self.fallback) * self.sp[2], (s, h, w) if k is None else (h, w))
        return self.plane.distance_mm(z, y, x).astype(np.float32)


def _petrous_streaks(hu: np.ndarray, brain: np.ndarray, sp, amp: float, rng: np.random.Generator) -> None:
    """Dark band with bright flanks across the posterior fossa, lowest quarter of the brain."""
    ks = np.nonzero(brain.any(axis=(1, 2)))[0]
    if len(ks) < 4:
        return
    low = ks[: max(1, len(ks) // 4)]
    rows = np.arange(hu.shape[1], dtype=np.float32)
    for k in low:
        r = np.nonzero(brain[k].any(axis=1))[0]
        if len(r) < 10:
            continue
        centre = r[0] + (r[-1] - r[0]) * rng.uniform(0.45, 0.7)
        width = rng.uniform(2.0, 5.0) / sp[1]
        d = (rows - centre) / width
        profile = -np.exp(-d ** 2) + 0.5 * np.exp(-((np.abs(d) - 2.0) ** 2))
        hu[k] += (amp * profile[:, None]) * brain[k]


def _hard_negative(name: str, an: Anatomy, rng: np.random.Generator):
    """(region float 0..1 on the canonical grid, HU) of one hard negative, or (None, 0)."""
    sp, brain, vent = an.spacing, an.brain, an.ventricles
    mid = _Midline(brain, sp)
    if name in ("pineal", "choroid", "basal_ganglia"):
        if not vent.any():
            return None, 0.0
        vz, vr, vc = np.nonzero(vent)
        zc = float(np.median(vz))
        if name == "pineal":
            row = float(np.percentile(vr, 60))
            centres = [(zc, row, mid.column(zc, row))]
            size = rng.uniform(1.5, 3.5)
        elif name == "choroid":
            post = float(np.percentile(vr, 85))
            m = mid.column(zc, post)
            centres = [(zc, post, float(np.percentile(vc[vc < m], 40)) if (vc < m).any() else m - 15),
                       (zc, post, float(np.percentile(vc[vc > m], 60)) if (vc > m).any() else m + 15)]
            size = rng.uniform(1.5, 3.0)
        else:
            off = rng.uniform(18.0, 24.0) / sp[2]
            row = float(np.median(vr))
            centres = [(zc - rng.uniform(0, 6) / sp[0], row, mid.column(zc, row) - off),
                       (zc - rng.uniform(0, 6) / sp[0], row, mid.column(zc, row) + off)]
            size = rng.uniform(1.0, 2.5)
        region = np.zeros(brain.shape, bool)
        for j, c in enumerate(centres):
            if j == 0 or rng.random() < 0.85:  # bilateral structures are sometimes calcified on one side only
                region |= paste(ball(size, sp), c, brain.shape)
        return region & brain, float(rng.uniform(*CALCIFICATION_HU))
    sheet = mid.lateral_mm() <= rng.uniform(0.5, 1.2)
    if name in ("dense_falx", "falx_calcification"):
        region = brain & sheet & (an.depth > 1.0)
        ks = np.nonzero(region.any(axis=(1, 2)))[0]
        if not len(ks):
            return None, 0.0
        region[: ks[0] + len(ks) // 3] = False  # the falx lies above the tentorium
        if name == "falx_calcification":
            k = int(rng.integers(ks[0] + len(ks) // 3, ks[-1] + 1))
            r = np.nonzero(region[k].any(axis=1))[0]
            if not len(r):
                return None, 0.0
            row = float(rng.choice(r))
            plaque = paste(ball(rng.uniform(2.0, 5.0), sp), (k, row, mid.column(k, row)), brain.shape)
            return region & plaque, float(rng.uniform(*CALCIFICATION_HU))
        return region, float(rng.uniform(*DURA_HU))
    ks = np.nonzero(brain.any(axis=(1, 2)))[0]
    if not len(ks):
        return None, 0.0
    if name == "tentorium":
        region = np.zeros(brain.shape, bool)
        k0 = ks[0] + len(ks) // 4
        for k in range(max(ks[0], k0 - int(6 / sp[0])), min(ks[-1], k0 + int(6 / sp[0])) + 1):
            r = np.nonzero(brain[k].any(axis=1))[0]
            if len(r) < 10:
                continue
            # inverted V: the apex at the midline, one slice band per height, posterior half only
            height = (k - k0) * sp[0]
            lateral = mid.lateral_mm(k)
            band = np.abs(lateral - (30.0 - 4.0 * height)) < 1.0
            region[k, r[len(r) // 2]:, :] |= band[r[len(r) // 2]:, :]
        return region & brain, float(rng.uniform(*DURA_HU))
    near_table = brain & (an.depth <= rng.uniform(3.0, 6.0))
    if name == "sagittal_sinus":
        region = near_table & (mid.lateral_mm() <= rng.uniform(3.0, 5.0))
        region[: ks[0] + len(ks) // 3] = False
        return region, float(rng.uniform(*SINUS_HU))
    if name == "transverse_sinus":
        region = near_table.copy()
        low, high = ks[0] + len(ks) // 8, ks[0] + len(ks) // 3
        region[:low] = False
        region[high:] = False
        for k in range(low, high):
            r = np.nonzero(brain[k].any(axis=1))[0]
            if len(r):
                region[k, : r[0] + int(0.7 * len(r))] = False  # posterior part only
        return region, float(rng.uniform(*SINUS_HU))
    raise ValueError(f"unknown hard negative {name!r}; choose from {', '.join(HARD_NEGATIVES)}")
