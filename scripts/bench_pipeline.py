#!/usr/bin/env python
"""Pipeline speed and memory: prints figures (no assertions). `make bench`.

Cases: the generated sample (always) and the real CTs of the shared data folder when present.
For each: seconds per stage (read, segmentation per method, measurement, prediction, re-score
with a user mask and a pre-loaded model), and the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from HematomaExpansionLib.core.config import shared_data_dir
from HematomaExpansionLib.io.ct_files import read_ct
from HematomaExpansionLib.pipeline.run_case import run_pipeline
from HematomaExpansionLib.segmentation.dispatch import net_available, segment
from HematomaExpansionLib.simulation.sample import make_sample_case


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_case(name: str, path: Path, methods: list[str]) -> None:
    from HematomaExpansionLib.expansion.predictor import ExpansionPredictor

    t = time.perf_counter()
    ct = read_ct(path)
    print(f"\n{name}: grid {ct.shape[::-1]} (i,j,k), spacing {tuple(round(s, 3) for s in ct.spacing)} mm")
    print(f"  read                 {time.perf_counter() - t:6.2f} s")
    results = {}
    for method in methods:
        t = time.perf_counter()
        results[method] = (segment(ct, method), time.perf_counter() - t)
        print(f"  segment ({method:7s})    {results[method][1]:6.2f} s   "
              f"volume {results[method][0].astype(bool).sum() * ct.voxel_volume_ml:6.1f} mL")
    labels, seg_seconds = results[methods[0]]  # the default method's mask is the one scored
    if not labels.any():
        print("  no hemorrhage found: prediction skipped")
        return
    t = time.perf_counter()
    predictor = ExpansionPredictor.load()
    print(f"  load expansion model {time.perf_counter() - t:6.2f} s")
    t = time.perf_counter()
    pred = run_pipeline(ct, mask=labels, predictor=predictor)
    print(f"  measure + predict    {time.perf_counter() - t:6.2f} s   p = {pred.model.probability:.3f}")
    for stage, seconds in pred.model.timings.items():
        print(f"    {stage:18s} {seconds:6.2f} s")
    radiomics_s = pred.model.timings.get("radiomics")
    if radiomics_s:
        print(f"  prediction / pyradiomics alone: {pred.model.timings['total_model'] / radiomics_s:.1f}x "
              f"(with segmentation: {(pred.model.timings['total_model'] + seg_seconds) / radiomics_s:.1f}x)")
    edited = labels.copy()
    edited[edited > 0] = 1
    t = time.perf_counter()
    run_pipeline(ct, mask=edited, predictor=predictor)
    print(f"  re-score (edited)    {time.perf_counter() - t:6.2f} s")
    print(f"  peak memory so far   {peak_mb():6.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/tmp/hemexp-bench", help="scratch folder")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    methods = (["net"] if net_available() else []) + ["classic"]
    if "net" in methods:  # loaded once per process (sha256 check + torch start-up), like Slicer/batch do
        from HematomaExpansionLib.segmentation.net import load_model

        t = time.perf_counter()
        load_model()
        print(f"load segmentation model {time.perf_counter() - t:5.2f} s (once per process)")
    ct, _, info = make_sample_case(0)
    sample = work / "sample_ct.nii.gz"
    sitk.WriteImage(ct.to_sitk(ct.array.astype(np.int16)), str(sample))
    print(f"generated sample: known volume {info['volume_ml']:.1f} mL")
    bench_case("generated sample", sample, methods)
    real = shared_data_dir() / "realct"
    if real.exists():
        for path in sorted(real.glob("*.nii.gz")):
            bench_case(path.name, path, methods)
    else:
        print(f"\n(real CTs skipped: {real} absent)")


if __name__ == "__main__":
    main()
