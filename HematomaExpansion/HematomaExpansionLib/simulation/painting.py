"""Painting blood into a head CT as it looks on NCCT.

Acute blood 55–80 HU (mean ≈ 62), smooth internal heterogeneity, hypodense pockets (30–45 HU,
"black hole"/swirl), optional blend sign (two density populations with a sharp interface,
the hypodense part staying ≥ BLEND_MIN_HU), partial volume from the background's slice thickness
(through-plane Gaussian of FWHM = slice thickness, in-plane FWHM = 1 pixel), the background's own
noise texture kept on top of the painted density, optional perihematomal edema rim
(−4..−12 HU, fading over the rim width). Bone (> BONE_HU) is never painted over. Satellites
(island sign) are shapes, added by ``lesions.add_satellites``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..anatomy.brain import BONE_HU
from ..anatomy.extent import bounding_box, margin_voxels
from ..core.ct_image import CTImage
from ..core.morphology import ball
from .arrays import paste, smooth_noise
from .backgrounds import anatomy

BLEND_MIN_HU = 42.0


@dataclass
class HematomaAppearance:
    """How the blood looks on NCCT. Defaults: a typical acute hematoma."""

    mean_hu: float = 62.0  # acute clotted blood 55–80 HU
    heterogeneity_sd: float = 4.0  # smooth internal variation, HU
    heterogeneity_mm: float = 3.0  # correlation length of that variation
    hypodense_pockets: int = 0  # black-hole / swirl pockets (30–45 HU)
    pocket_hu: float = 38.0
    blend: bool = False  # blend sign: a hypodense region with a sharp interface
    blend_delta_hu: float = 20.0
    satellites: int = 0  # island sign (applied by simulate_case through add_satellites)
    edema_rim_mm: float = 0.0  # perihematomal edema width (0 = none)
    edema_delta_hu: float = -8.0
    ivh_mean_hu: float = 58.0  # intraventricular blood mixes with CSF: a little lower

    @classmethod
    def random(cls, rng: np.random.Generator) -> "HematomaAppearance":
        return cls(
            mean_hu=float(np.clip(rng.normal(63.0, 5.0), 55.0, 78.0)),
            heterogeneity_sd=float(rng.uniform(2.0, 7.0)),
            heterogeneity_mm=float(rng.uniform(1.5, 5.0)),
            hypodense_pockets=int(rng.choice([0, 0, 0, 1, 2, 3])),
            pocket_hu=float(rng.uniform(30.0, 45.0)),
            blend=bool(rng.random() < 0.15),
            blend_delta_hu=float(rng.uniform(14.0, 25.0)),
            satellites=int(rng.choice([0, 0, 0, 1, 2])),
            edema_rim_mm=float(rng.choice([0.0, 0.0, rng.uniform(1.5, 6.0)])),
            edema_delta_hu=float(rng.uniform(-12.0, -4.0)),
            ivh_mean_hu=float(np.clip(rng.normal(57.0, 6.0), 45.0, 72.0)),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paint_hematoma(background: CTImage, iph: np.ndarray, ivh: np.ndarray,
                   appearance: HematomaAppearance | None = None,
                   rng: np.random.Generator | None = None) -> CTImage:
    """The background with blood painted into ``iph``/``ivh`` (bool, background grid).

    Result HU = smooth background × (1 − f) + blood × f + the background's own noise residual,
    where f is the mask blurred to the scanner's partial volume (through-plane FWHM = slice
    thickness, in-plane FWHM = one pixel). Edema lowers the parenchyma around the IPH.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    app = appearance if appearance is not None else HematomaAppearance()
    an = anatomy(background)
    sp = an.spacing
    hu = an.hu
    iph_c = background.to_canonical_array(np.asarray(iph, bool))
    ivh_c = background.to_canonical_array(np.asarray(ivh, bool)) & ~iph_c
    if not (iph_c.any() or ivh_c.any()):
        return CTImage(background.array.copy(), background.spacing, background.origin,
                       background.direction.copy(), background.source, {})
    margin = max(app.edema_rim_mm, 0.0) + 3.0 * max(sp[0], 2.0) + 6.0
    sl = bounding_box(iph_c | ivh_c, margin_voxels(margin, sp))
    hu_full = hu
    hu = hu_full[sl]
    iph_c, ivh_c = iph_c[sl], ivh_c[sl]
    brain_c, vent_c = an.brain[sl], an.ventricles[sl]
    smooth_bg = ndi.median_filter(hu, size=(1, 3, 3)).astype(np.float32)
    residual = np.clip(hu - smooth_bg, -40, 40)
    field = smooth_noise(hu.shape, sp, app.heterogeneity_mm, rng)
    blood = app.mean_hu + app.heterogeneity_sd * field
    if iph_c.any() and app.hypodense_pockets > 0:
        inner = ndi.binary_erosion(iph_c, ball(2.0, sp)) if iph_c.sum() > 200 else iph_c
        cand = np.argwhere(inner)
        for _ in range(app.hypodense_pockets):
            if len(cand) == 0:
                break
            c = cand[rng.integers(len(cand))]
            rad = rng.uniform(1.5, 5.0)
            pocket = paste(ball(rad, sp), c, hu.shape).astype(np.float32)
            pocket = ndi.gaussian_filter(pocket, [1.0 / s for s in sp])
            blood = blood + (app.pocket_hu - blood) * np.clip(pocket * 1.3, 0, 1) * iph_c
    if iph_c.any() and app.blend:
        coords = np.argwhere(iph_c)
        centre = coords.mean(0)
        normal = rng.standard_normal(3)
        normal[0] *= 0.3
        normal /= np.linalg.norm(normal)
        grid = np.indices(hu.shape, dtype=np.float32)
        side = sum((grid[a] - centre[a]) * sp[a] * normal[a] for a in range(3))
        offset = np.quantile(side[iph_c], rng.uniform(0.5, 0.8))
        low = (side > offset) & iph_c
        # the hypodense part of a blend stays hyperdense to brain (≥ BLEND_MIN_HU)
        blood = np.where(low, np.maximum(blood - app.blend_delta_hu, BLEND_MIN_HU), blood)
    blood = np.where(ivh_c & ~iph_c, blood - (app.mean_hu - app.ivh_mean_hu), blood)
    mask = (iph_c | ivh_c).astype(np.float32)
    sigma = [max(sp[0], 1.0) / 2.355 / sp[0], 1.0 / 2.355, 1.0 / 2.355]  # in voxels
    f = np.clip(ndi.gaussian_filter(mask, sigma), 0.0, 1.0)
    # inside the mask keep a mostly blood-filled core; partial volume shows at the border
    f = np.where(mask > 0, np.maximum(f, 0.5 + 0.5 * f), f)
    bloodfill = ndi.grey_dilation(np.where(mask > 0, blood, -1e4), size=(3, 5, 5))
    bloodfill = np.where(mask > 0, blood, np.where(bloodfill > -1e3, bloodfill, app.mean_hu))
    out = smooth_bg * (1 - f) + bloodfill * f
    if iph_c.any() and app.edema_rim_mm > 0:
        d = ndi.distance_transform_edt(~iph_c, sampling=sp)
        w = np.clip(1.0 - d / app.edema_rim_mm, 0, 1) * (d > 0)
        w = w * brain_c * ~vent_c
        out = out + app.edema_delta_hu * w
    out = out + residual
    out = np.where(hu > BONE_HU, hu, out)  # never paint over bone
    full = hu_full.copy()
    full[sl] = out
    out = full
    arr = background.from_canonical_array(out.astype(np.float32))
    return CTImage(arr, background.spacing, background.origin, background.direction.copy(), background.source, {})
