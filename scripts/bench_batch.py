#!/usr/bin/env python
"""Batch benchmark (`make bench-batch`): throughput with 1 and 2 workers, the resume ratio, peak
memory, and Dask = local, on a generated archive of hemorrhage scans, normal scans and hostile
inputs (a text file, a truncated NIfTI, an MR-like volume).

Prints figures; asserts nothing (speed is measured here, not in the tests).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from HematomaExpansionLib.outputs.batch_summary import status_counts
from HematomaExpansionLib.pipeline.batch import BatchOptions, run_batch
from HematomaExpansionLib.pipeline.batch_inputs import collect_cases
from HematomaExpansionLib.simulation.sample import make_sample_case


def make_archive(folder: Path, n_ich: int, n_normal: int) -> None:
    shape, spacing = (30, 256, 256), (5.0, 0.9, 0.9)
    for seed in range(n_ich):
        ct, _, _ = make_sample_case(100 + seed, shape=shape, spacing=spacing, hematoma_ml=10.0 + 4 * seed)
        sitk.WriteImage(ct.to_sitk(ct.array.astype(np.int16)), str(folder / f"ich{seed:02d}.nii.gz"))
    for seed in range(n_normal):
        ct, _, _ = make_sample_case(200 + seed, shape=shape, spacing=spacing, with_hemorrhage=False)
        sitk.WriteImage(ct.to_sitk(ct.array.astype(np.int16)), str(folder / f"normal{seed:02d}.nii.gz"))
    (folder / "hostile_text.nii.gz").write_text("not an image")
    whole = (folder / "ich00.nii.gz").read_bytes()
    (folder / "hostile_truncated.nii.gz").write_bytes(whole[: len(whole) // 3])
    mr = np.random.default_rng(0).uniform(0, 800, shape).astype(np.float32)
    img = sitk.GetImageFromArray(mr)
    img.SetSpacing(spacing[::-1])
    sitk.WriteImage(img, str(folder / "hostile_mr.nii.gz"))


def timed_batch(cases, out: Path, options: BatchOptions, **kw) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    rows = run_batch(cases, out, options, progress=False, **kw)
    return time.perf_counter() - t0, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ich", type=int, default=8, help="generated hemorrhage scans")
    parser.add_argument("--normal", type=int, default=2, help="generated normal scans")
    parser.add_argument("--method", default="auto", choices=["auto", "net", "classic"])
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scans = tmp / "scans"
        scans.mkdir()
        make_archive(scans, args.ich, args.normal)
        cases = collect_cases([str(scans)])
        options = BatchOptions(seg_method=args.method)
        figures = {"cases": len(cases)}
        t1, rows1 = timed_batch(cases, tmp / "w1" / "results.csv", options, workers=1)
        t_again, _ = timed_batch(cases, tmp / "w1" / "results.csv", options, workers=1)
        t2, rows2 = timed_batch(cases, tmp / "w2" / "results.csv", options, workers=2)
        td, rows_d = timed_batch(cases, tmp / "dask" / "results.csv", options, workers=2, executor="dask")
        keys = ("status", "error", "volume_ml", "he_probability", "model_version")
        figures.update({
            "statuses": status_counts(rows1),
            "cases_per_minute_1_worker": round(60 * len(cases) / t1, 2),
            "cases_per_minute_2_workers": round(60 * len(cases) / t2, 2),
            "speedup_2_vs_1": round(t1 / t2, 2),
            "second_run_over_first": round(t_again / t1, 3),
            "dask_seconds": round(td, 1),
            "dask_equals_local": [[r.get(k) for k in keys] for r in rows_d] == [[r.get(k) for k in keys] for r in rows1],
            "two_workers_equal_one": [[r.get(k) for k in keys] for r in rows2] == [[r.get(k) for k in keys] for r in rows1],
            "peak_memory_mb_main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_memory_mb_largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        })
    for k, v in figures.items():
        print(f"{k:32s} {v}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
