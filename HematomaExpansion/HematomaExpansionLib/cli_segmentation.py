"""`train-seg` and `bench-seg`: rebuild and benchmark the bundled segmentation network."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from .errors import HematomaExpansionError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-seg",
        help="retrain the bundled hemorrhage segmentation network (CPU, ~1 h; needs the shared data)",
        description=(
            "Simulate training cases from the real head CT and the *train* split of the real lesion "
            "masks (simulation.py), cache them, train the attention U-Net, and optionally install the "
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
                   help="augment blood towards 45-55 HU (seg_training.LOW_DENSITY_SCALE). Pair it with "
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
    p.add_argument("--skip-cache", action="store_true", help="train on the existing cache only")
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
    from . import config

    d = config.shared_data_dir()
    if not (d / "realct").exists() or not (d / "lesion_masks").exists():
        raise HematomaExpansionError(
            f"training/benchmark data not found under {d} (set HEMEXP_SHARED_DATA to the shared data folder)")


def _train(args) -> int:
    _require_data()
    from . import seg_training as T

    if not args.skip_cache:
        if args.workers > 1:
            procs = [subprocess.Popen([sys.executable, "-c", (
                "from HematomaExpansionLib import seg_training as T;"
                f"T.build_cache({args.cache_dir!r}, {args.cases}, seed0={args.seed}, shard={s}, n_shards={args.workers})")])
                for s in range(args.workers)]
            if any(p.wait() for p in procs):
                raise HematomaExpansionError("case simulation failed")
        else:
            T.build_cache(args.cache_dir, args.cases, seed0=args.seed)
    real_dir = None
    if args.real_negatives:
        real_dir = Path(args.cache_dir) / "real_negatives"
        T.build_real_negatives(real_dir, args.real_negatives, seed=args.seed)
    info = T.train(args.cache_dir, args.output, minutes=args.minutes, steps=args.steps, seed=args.seed,
                   batch=args.batch, lr=args.lr, threads=args.threads, init=args.init,
                   low_density_aug=args.low_density_aug, real_negatives=real_dir)
    if args.init:
        info["init"] = Path(args.init).name
    print(json.dumps(info))
    if args.install:
        entry = install_weights(args.output, training=info, version=args.model_version,
                                blood_threshold=args.blood_threshold)
        print(json.dumps(entry))
    return 0


# manifest keys that describe one weight file: never carried over to other weights
WEIGHT_SPECIFIC_KEYS = ("metrics", "training", "blood_probability_threshold")


def install_weights(weights: str | Path, training: dict | None = None, metrics: dict | None = None,
                    version: str | None = None, blood_threshold: float | None = None) -> dict:
    """Copy weights into models/segmentation and write/refresh its manifest entry. Keys that describe
    the old weights (metrics, training, blood threshold) are dropped when the weights change: new
    weights run at ``blood_threshold`` or the module default until they are tuned and benchmarked."""
    import datetime
    import shutil

    from . import config
    from . import segmentation_net as net

    if blood_threshold is not None and not 0.0 < blood_threshold < 1.0:
        raise HematomaExpansionError(f"--blood-threshold must be between 0 and 1, got {blood_threshold}")
    mdir = config.models_dir()
    dest = mdir / "segmentation" / f"{net.MODEL_ID}.pt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if Path(weights).resolve() != dest.resolve():
        shutil.copyfile(weights, dest)
    mpath = mdir / "manifest.json"
    manifest = json.loads(mpath.read_text()) if mpath.exists() else {}
    models = manifest.setdefault("models", {})
    old = models.get(net.MODEL_ID, {})
    entry = dict(old)
    sha = net.sha256_of(dest)
    if old.get("sha256") != sha:
        for key in WEIGHT_SPECIFIC_KEYS:
            entry.pop(key, None)
    entry.update({
        "file": str(dest.relative_to(mdir)),
        "sha256": sha,
        "version": version or old.get("version", "1.0.0"),
        "kind": "segmentation",
        "trained": datetime.date.today().isoformat(),
        "architecture": {"name": "2.5D attention U-Net", "base": 8, "levels": 5, "input": "3 HU planes (±3 mm), 1 mm pixels, 224x224",
                         "classes": ["background", "IPH", "IVH"]},
        "model_card": "segmentation/MODEL_CARD.md",
    })
    if training is not None:
        entry["training"] = training
    if metrics is not None:
        entry["metrics"] = metrics
    if blood_threshold is not None:
        entry["blood_probability_threshold"] = float(blood_threshold)
    entry.setdefault("metrics", {})
    models[net.MODEL_ID] = entry
    tmp = mpath.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(mpath)
    net._load_cached.cache_clear()
    return entry


def _bench(args) -> int:
    _require_data()
    here = Path(__file__).resolve()
    script = here.parents[2] / "scripts" / "bench_segmentation.py"
    if not script.exists():
        raise HematomaExpansionError(f"benchmark script not found: {script} (run from a source checkout)")
    cmd = [sys.executable, str(script), "--cases", str(args.cases), "--seed", str(args.seed)]
    if args.json:
        cmd += ["--json", args.json]
    return subprocess.call(cmd)
