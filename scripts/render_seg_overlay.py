#!/usr/bin/env python
"""Render axial slices of a CT with the network (red) and classic (cyan) masks as a PNG.

    python scripts/render_seg_overlay.py CT.nii.gz out.png [--slices N]

Prints the volumes (mL) of both masks. Used for the qualitative check on the real
hemorrhage scan mistie_0034 (no ground-truth mask exists for it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "HematomaExpansion"))

from HematomaExpansionLib.core.ct_image import CTImage  # noqa: E402
from HematomaExpansionLib.core.results import LABEL_IPH, LABEL_IVH  # noqa: E402
from HematomaExpansionLib.segmentation.classic import segment_classic  # noqa: E402
from HematomaExpansionLib.segmentation.net import segment_net  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("ct")
    ap.add_argument("png")
    ap.add_argument("--slices", type=int, default=8)
    ap.add_argument("--no-classic", action="store_true")
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ct = CTImage.from_sitk(sitk.ReadImage(args.ct), source=args.ct)
    net = segment_net(ct)
    masks = {"net": net}
    if not args.no_classic:
        masks["classic"] = segment_classic(ct)
    vml = ct.voxel_volume_ml
    summary = {k: {"volume_ml": round(float((m > 0).sum() * vml), 2),
                   "iph_ml": round(float((m == LABEL_IPH).sum() * vml), 2),
                   "ivh_ml": round(float((m == LABEL_IVH).sum() * vml), 2)} for k, m in masks.items()}
    print(json.dumps(summary))
    hu = ct.to_canonical_array()
    can = {k: ct.to_canonical_array(m) for k, m in masks.items()}
    any_k = np.nonzero(can["net"].any((1, 2)))[0]
    if len(any_k) == 0:
        any_k = np.arange(hu.shape[0] // 3, 2 * hu.shape[0] // 3)
    lo, hi = max(0, any_k[0] - 1), min(hu.shape[0] - 1, any_k[-1] + 1)
    ks = np.unique(np.linspace(lo, hi, args.slices).round().astype(int))
    sz, sy, sx = ct.canonical_spacing()
    cols = min(4, len(ks))
    rows = int(np.ceil(len(ks) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 4.5 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, k in zip(axes.ravel(), ks):
        ax.imshow(hu[k], cmap="gray", vmin=0, vmax=100, aspect=sy / sx)
        ax.contour(can["net"][k] == LABEL_IPH, levels=[0.5], colors="red", linewidths=0.8)
        ax.contour(can["net"][k] == LABEL_IVH, levels=[0.5], colors="yellow", linewidths=0.8)
        if "classic" in can:
            ax.contour(can["classic"][k] > 0, levels=[0.5], colors="cyan", linewidths=0.6, linestyles="dotted")
        ax.set_title(f"slice {k}", fontsize=9)
    fig.suptitle(f"{Path(args.ct).name}: net IPH red, IVH yellow ({summary['net']['volume_ml']} mL); "
                 + (f"classic cyan ({summary['classic']['volume_ml']} mL)" if "classic" in summary else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(args.png, dpi=80)
    return 0


if __name__ == "__main__":
    sys.exit(main())
