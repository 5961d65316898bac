"""Seeded data engine: real hematoma shapes placed into real head CTs, painted as on NCCT.

Why: no public head CT with hemorrhage *and* a voxel mask is available to this project, but
~420 real hematoma masks (HemSeg-500, drawn on RSNA head CTs, binary IPH+IVH, real slice
geometry) and a real lesion-free head NCCT are. The data engine combines them into labelled
cases for segmentation training/benchmarks (``simulate_case``, here) and, via
``lesions.grow_lesion``, into baseline/follow-up pairs for the expansion-model cohort
(``cohort``).

Everything is deterministic from a seed (``numpy.random.Generator``). All geometry work is done
on the background's canonical axial array and mapped back, so outputs are always on the
background's exact grid. The steps, one module each: ``backgrounds`` (real heads, derived
anatomies), ``lesions`` (shapes, placement, satellites, growth), ``painting`` (appearance on
NCCT), ``variants`` (acquisition variants, on ``resampling``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.ct_image import CTImage
from ..core.results import LABEL_IPH, LABEL_IVH
from .backgrounds import anatomy, delineated_head, derive_background, resolve_data_dir, shared_background_heads
from .domain import ScannerAppearance, apply_scanner_acquisition, paint_scanner_anatomy
from .lesions import add_satellites, list_lesion_masks, place_lesion
from .painting import HematomaAppearance, paint_hematoma
from .variants import VARIANT_WEIGHTS, apply_variant


@dataclass
class SimulatedCase:
    ct: CTImage
    labels: np.ndarray  # uint8 on ct's grid: 0, LABEL_IPH, LABEL_IVH
    meta: dict = field(default_factory=dict)


def simulate_case(seed: int, split: str = "train", variant: str | None = None,
                  data_dir: str | Path | None = None, derive: bool = True, domain: bool = True,
                  background: str | None = None) -> SimulatedCase:
    """One labelled case, deterministic from ``seed``.

    ``split`` picks the lesion shapes (train or val masks; backgrounds are shared, with random
    derived anatomy). ``variant`` (one of VARIANTS, or None = drawn from VARIANT_WEIGHTS).
    Compartments: 65 % IPH only, 22 % IPH + IVH extension, 13 % IVH only. ``domain``: domain
    randomisation (``simulation.domain``: scanner appearance, hard negatives, elastic anatomy),
    drawn from a random stream of its own, so lesion shape/placement/variant are the same with
    and without it. ``background``: one of ``HEMORRHAGE_HEADS`` instead of the lesion-free heads
    (its own delineated blood is part of the labels and moves with the derived geometry).
    """
    rng = np.random.default_rng([int(seed), 0 if split == "train" else 1])
    if variant is None:
        names = list(VARIANT_WEIGHTS)
        w = np.array([VARIANT_WEIGHTS[n] for n in names])
        variant = str(rng.choice(names, p=w / w.sum()))
    own = None
    if background is not None:
        head, own = delineated_head(str(resolve_data_dir(data_dir)), background)
    else:
        heads = shared_background_heads(str(resolve_data_dir(data_dir)))
        if not heads:
            raise FileNotFoundError(f"no background head CT under {resolve_data_dir(data_dir) / 'realct'}")
        head = heads[int(rng.integers(len(heads)))]  # shared, read-only; anatomy cached on it
    drng = np.random.default_rng([int(seed), 0 if split == "train" else 1, 17])
    bg = derive_background(head, rng, elastic_rng=drng if domain else None, own_blood=own) if derive else head
    if derive and own is not None:
        own = bg.metadata["own_blood"]
    meta: dict[str, Any] = {"seed": int(seed), "split": split, "variant": variant,
                            "background": head.metadata.get("background", ""), "derived": bg.metadata.get("derived")}
    empty = np.zeros(bg.shape, bool)
    if variant == "nohem":
        # a copy: ``bg`` may be the shared head, whose metadata (cached anatomy) must survive
        ct = CTImage(bg.array.copy(), bg.spacing, bg.origin, bg.direction.copy(), bg.source, {})
        labels = np.zeros(bg.shape, np.uint8)
        meta.update(lesion=None, iph_ml=0.0, ivh_ml=0.0)
    else:
        masks = list_lesion_masks(split, data_dir)
        if not masks:
            raise FileNotFoundError("no lesion masks found")
        r = rng.random()
        comp = "iph" if r < 0.65 else ("iph+ivh" if r < 0.87 else "ivh")
        path = masks[int(rng.integers(len(masks)))]
        scale = float(rng.uniform(0.85, 1.15))
        iph = ivh = empty
        if comp in ("iph", "iph+ivh"):
            iph = place_lesion(bg, path, rng, "parenchyma", scale=scale)
        if comp in ("ivh", "iph+ivh"):
            p2 = path if comp == "ivh" else masks[int(rng.integers(len(masks)))]
            ivh = place_lesion(bg, p2, rng, "ventricle", scale=scale)
        app = HematomaAppearance.random(rng)
        if app.satellites and iph.any():
            iph = add_satellites(iph, bg, app.satellites, rng)
        ivh = ivh & ~iph
        ct = paint_hematoma(bg, iph, ivh, app, rng)
        labels = np.zeros(bg.shape, np.uint8)
        labels[iph] = LABEL_IPH
        labels[ivh] = LABEL_IVH
        meta.update(lesion=path.name, compartment=comp, scale=round(scale, 3), appearance=app.to_dict())
    if own is not None:  # the background's own (delineated) hemorrhage is blood too
        labels = np.where((labels == 0) & (own > 0), own, labels).astype(np.uint8)
        meta["own_blood_ml"] = float((own > 0).sum() * bg.voxel_volume_ml)
    scanner = ScannerAppearance.random(drng) if domain else ScannerAppearance()
    # the scanner's kernel and noise belong to the reconstructed slices, before any skull stripping
    acquisition_first = variant == "skullstrip"
    if domain:
        ct = paint_scanner_anatomy(ct, labels, anatomy(bg), scanner, drng)
        meta["scanner"] = scanner.to_dict()
        if acquisition_first:
            ct = apply_scanner_acquisition(ct, scanner, drng)
    ct, labels, vmeta = apply_variant(ct, labels, variant, rng, brain=bg.from_canonical_array(anatomy(bg).brain))
    if domain and not acquisition_first:
        ct = apply_scanner_acquisition(ct, scanner, drng)
    meta.update(vmeta)
    vml = ct.voxel_volume_ml
    meta["iph_ml"] = float((labels == LABEL_IPH).sum() * vml)
    meta["ivh_ml"] = float((labels == LABEL_IVH).sum() * vml)
    ct.source = f"simulated:{split}:{seed}:{variant}"
    ct.metadata = {"simulated": True}
    return SimulatedCase(ct, labels.astype(np.uint8), meta)
