#!/usr/bin/env python
"""Thin-slice speed and memory (`make bench-thin`): a 512×512×300 scan through `segment` and `predict`.

The scan: a held-out generated case (val-split lesion shape, domain-randomised head) resampled to
0.45 mm pixels and 0.6 mm slices, 512×512×300, written as NIfTI. Printed: seconds of the network
segmentation in this process (median of 2, 2 torch threads; thin slices run on
``segmentation.slabs.SLAB_MM`` slabs), and wall seconds and peak resident memory of the
`hematoma-expansion segment` and `predict` commands run as child processes (``--repeats`` times each:
the median wall time and the highest peak are printed). Targets (issue 11):
segment ≤ 10 s, predict peak ≤ 2 GB. Needs the shared data; exits 0 with a message when absent.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "HematomaExpansion"))

from HematomaExpansionLib.core import config  # noqa: E402
from HematomaExpansionLib.segmentation import net  # noqa: E402
from HematomaExpansionLib.segmentation.calibration import shift_soft_tissue  # noqa: E402
from HematomaExpansionLib.simulation.cases import simulate_case  # noqa: E402
from HematomaExpansionLib.simulation.resampling import center_lps, resample_case  # noqa: E402

SHAPE = (512, 512, 300)  # x, y, slices
SPACING = (0.45, 0.45, 0.6)
MIN_HEMORRHAGE_ML = 5.0


def thin_scan(seed: int):
    """(CT, labels, seed used): the first case from ``seed`` on with at least MIN_HEMORRHAGE_ML of blood,
    so `predict` scores it (a hemorrhage under the scorable minimum exits early and measures nothing)."""
    for s in range(seed, seed + 100):
        case = simulate_case(s, split="val", variant="standard")
        if (case.labels > 0).sum() * case.ct.voxel_volume_ml >= MIN_HEMORRHAGE_ML:
            break
    d = case.ct.direction
    size = np.array(SHAPE)
    sp = np.array(SPACING)
    origin = center_lps(case.ct) - d @ ((size - 1) / 2.0 * sp)
    return (*resample_case(case.ct, case.labels, tuple(sp), d, size=tuple(size), origin=tuple(origin)), s)


def child(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, exit code) of a child command (RSS measured by a wrapper process
    of its own, so earlier children do not count); a failing command's last error line is printed."""
    wrapper = ("import resource,subprocess,sys,time;t=time.time();rc=subprocess.call(sys.argv[1:]);"
               "print('%.2f %.1f %d'%(time.time()-t,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024,rc))")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True)
    wall, rss, rc = out.stdout.strip().splitlines()[-1].split()
    if int(rc) != 0:
        print(f"{Path(cmd[0]).name} {cmd[1]} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}", file=sys.stderr)
    return float(wall), float(rss), int(rc)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=100321)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each command (wall times on a shared machine vary by "
                    "±1 s: the median is printed, and the highest peak memory)")
    ap.add_argument("--brighter", type=float, default=0.0, help="read soft tissue this many HU higher (a scanner "
                    "outside the training range: the density-calibrated path, with its extra copy of the scan)")
    args = ap.parse_args(argv)
    if not (config.shared_data_dir() / "realct" / "cranium_invesalius.nii.gz").exists():
        print(f"bench-thin skipped: shared data not found under {config.shared_data_dir()} (set HEMEXP_SHARED_DATA)")
        return 0
    import torch

    torch.set_num_threads(2)
    ct, truth, used = thin_scan(args.seed)
    if args.brighter:
        shift_soft_tissue(ct.array, args.brighter)
    model = net.load_model()
    times = []
    for _ in range(2):
        t = time.time()
        pred = net.segment_net(ct, model=model)
        times.append(time.time() - t)
    inter = float(((pred > 0) & (truth > 0)).sum())
    dice = 2 * inter / max(1.0, float((pred > 0).sum() + (truth > 0).sum()))
    cli = str(Path(sys.executable).with_name("hematoma-expansion"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "thin.nii.gz"
        sitk.WriteImage(ct.to_sitk(np.round(ct.array).astype(np.int16)), str(path), True)  # int16, as scanners write
        segs = [child([cli, "segment", str(path), "--output", str(Path(tmp) / "mask.nii.gz")]) for _ in range(args.repeats)]
        preds = [child([cli, "predict", str(path), "--output-dir", str(Path(tmp) / "out")]) for _ in range(args.repeats)]
    print(f"thin-slice scan {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]} ({SPACING[0]} mm pixels, {SPACING[2]} mm slices; val case {used}), "
          f"true hemorrhage {float((truth > 0).sum() * ct.voxel_volume_ml):.2f} mL, network Dice {dice:.3f}"
          + (f", soft tissue read {args.brighter:+.0f} HU" if args.brighter else ""))
    print(f"network segmentation in process: {np.median(times):.2f} s (median of 2)       target <= 10 s")
    for name, runs, target in (("segment", segs, "wall target <= 10 s"), ("predict", preds, "peak target <= 2048 MB")):
        walls, peaks = [r[0] for r in runs], [r[1] for r in runs]
        print(f"`{name}` command, {len(runs)} runs: {np.median(walls):.2f} s wall median ({min(walls):.2f}-{max(walls):.2f}), "
              f"peak {max(peaks):.0f} MB highest ({min(peaks):.0f}-{max(peaks):.0f}), exit {max(r[2] for r in runs)}   {target}")
    print(f"(2 torch threads; 1-min load average of this shared machine {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
