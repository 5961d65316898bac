"""`train-seg` and `bench-seg`: rebuild and benchmark the bundled segmentation network."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from ..core import config
from ..core.errors import HematomaExpansionError
from ..training import segmentation as seg_training
from ..training.weights import install_weights


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-seg",
        help="retrain the bundled hemorrhage segmentation network (CPU, ~1 h; needs the shared data)",
        description=(
            "Simulate training cases from the real head CT and the *train* split of the real lesion "
            "masks (the simulation package), cache them, train the attention U-Net, and optionally install the "
            "weights into models/ (manifest entry with sha256). Reproducible from --seed."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--cache-dir", default="work-data/segcache/train", help="where simulated slices are cached (.npz)")
    p.add_argument("--cases", type=int, default=400, help="number of simulated training cases")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulation and of training")
    p.add_argument("--workers", type=int, default=1, help="processes for case simulation")
    p.add_argument("--minutes", type=float, default=40.0, help="training wall-clock budget")
    p.add_argument("--steps", type=int, default=None, help="fixed number of steps instead of --minutes (exactly reproducible)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=1, help="torch threads for training")
    p.add_argument("--init", default=None, metavar="WEIGHTS",
                   help="start from these weights (fine-tuning, e.g. the bundled models/segmentation/*.pt) instead of random ones")
    p.add_argument("--low-density-aug", action="store_true",
                   help="augment blood towards 45-55 HU (training.segmentation.LOW_DENSITY_SCALE). Pair it with "
                        "--real-negatives: alone, a fine-tune with it labelled ~15 mL of normal cortex as blood "
                        "on the real scan mistie_0034")
    p.add_argument("--real-negatives", nargs="+", default=None, metavar="CT[:K0-K1]",
                   help="real scans whose normal anatomy trains as background (any hemorrhage the current "
                        "segmenters find there is excluded from the loss); K0-K1: canonical axial slices to use")
    p.add_argument("--output", default="work-data/seg_model.pt", help="weights file to write")
    p.add_argument("--install", action="store_true", help="copy the weights into models/segmentation and update models/manifest.json")
    p.add_argument("--model-version", default=None, help="version recorded in the manifest with --install (default: keep)")
    p.add_argument("--blood-threshold", type=float, default=None,
                   help="operating point P(IPH)+P(IVH) recorded with --install (tune it on train-split cases; "
                        "default: the module's BLOOD_PROBABILITY_THRESHOLD)")
    p.add_argument("--brain-calibration-hu", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="density range of brain parenchyma (HU, network grid) the weights are recorded with; a scan "
                        "outside it is shifted into it for the network (default: the training heads' median ± "
                        "segmentation.calibration.CALIBRATION_HALF_WIDTH_HU, measured; written beside the weights "
                        "as <output>.json and, with --install, in the manifest)")
    p.add_argument("--skip-cache", action="store_true", help="train on the existing cache only")
    p.add_argument("--cache-only", action="store_true", help="simulate and cache the cases, do not train (e.g. another "
                   "head's cases for --extra-cache)")
    p.add_argument("--background", default=None, metavar="NAME",
                   help="simulate on this real hemorrhage head (simulation.backgrounds.HEMORRHAGE_HEADS, e.g. "
                        "mistie_0034.nii.gz; its own blood is delineated and labelled) instead of the lesion-free heads "
                        "(leave-one-head-out folds)")
    p.add_argument("--extra-cache", nargs="+", default=None, metavar="DIR",
                   help="also train on the cases cached in these folders by an earlier train-seg (e.g. a "
                        "--background fold's): every head they were simulated on joins the training and the density record")
    p.set_defaults(func=_train)

    b = subparsers.add_parser(
        "bench-seg",
        help="benchmark the segmentation network against the classical baseline (held-out cases)",
        description="Runs scripts/bench_segmentation.py logic: Dice, volume error, ABC/2 error, "
        "false-positive volume on lesion-free real heads, seconds per scan; net vs classic.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    b.add_argument("--cases", type=int, default=30, help="held-out generated cases (val-split lesion shapes)")
    b.add_argument("--seed", type=int, default=100000)
    b.add_argument("--json", default=None, help="also write the figures to this JSON file")
    b.set_defaults(func=_bench)


def _require_data():
    d = config.shared_data_dir()
    if not (d / "realct").exists() or not (d / "lesion_masks").exists():
        raise HematomaExpansionError(
            f"training/benchmark data not found under {d} (set HEMEXP_SHARED_DATA to the shared data folder)")


def _train(args) -> int:
    if args.cache_only and args.skip_cache:
        raise HematomaExpansionError("--cache-only and --skip-cache together would do nothing")
    _require_data()
    if not args.skip_cache:
        seg_training.claim_cache(args.cache_dir, args.background)  # before the workers: one record, checked once
        if args.workers > 1:
            procs = [subprocess.Popen([sys.executable, "-c", (
                "from HematomaExpansionLib.training import segmentation as T;"
                f"T.build_cache({args.cache_dir!r}, {args.cases}, seed0={args.seed}, shard={s}, n_shards={args.workers}, "
                f"background={args.background!r})")])
                for s in range(args.workers)]
            if any(p.wait() for p in procs):
                raise HematomaExpansionError("case simulation failed")
        else:
            seg_training.build_cache(args.cache_dir, args.cases, seed0=args.seed, background=args.background)
    if args.cache_only:
        print(json.dumps({"cache_dir": args.cache_dir, "cases": args.cases, "background": args.background or "lesion-free heads"}))
        return 0
    real_dir = None
    if args.real_negatives:
        real_dir = Path(args.cache_dir) / "real_negatives"
        seg_training.build_real_negatives(real_dir, args.real_negatives, seed=args.seed)
    extra = list(args.extra_cache or [])
    caches = [args.cache_dir] + extra if extra else args.cache_dir
    info = seg_training.train(caches, args.output, minutes=args.minutes, steps=args.steps, seed=args.seed,
                   batch=args.batch, lr=args.lr, threads=args.threads, init=args.init,
                   low_density_aug=args.low_density_aug, real_negatives=real_dir)
    if args.init:
        info["init"] = Path(args.init).name
    backgrounds = [args.background] + [seg_training.cache_background(d) for d in extra]
    calibration = seg_training.training_heads_calibration(backgrounds)
    if args.brain_calibration_hu:
        calibration["brain_calibration_hu"] = [float(v) for v in args.brain_calibration_hu]
    info["background"] = ", ".join(dict.fromkeys(b or "lesion-free heads" for b in backgrounds))
    if extra:
        info["extra_cache"] = [Path(d).name for d in extra]
    info.update(calibration)
    seg_training.write_weights_record(args.output, info)
    print(json.dumps(info))
    if args.install:
        entry = install_weights(args.output, training=info, version=args.model_version,
                                blood_threshold=args.blood_threshold, brain_calibration_hu=calibration["brain_calibration_hu"])
        print(json.dumps(entry))
    return 0


def _bench(args) -> int:
    _require_data()
    here = Path(__file__).resolve()
    script = here.parents[3] / "scripts" / "bench_segmentation.py"
    if not script.exists():
        raise HematomaExpansionError(f"benchmark script not found: {script} (run from a source checkout)")
    cmd = [sys.executable, str(script), "--cases", str(args.cases), "--seed", str(args.seed)]
    if args.json:
        cmd += ["--json", args.json]
    return subprocess.call(cmd)
