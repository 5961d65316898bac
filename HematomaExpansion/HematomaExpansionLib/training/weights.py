"""Installing retrained segmentation weights into the models folder with their manifest entry."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

from ..core import config, model_registry
from ..core.errors import HematomaExpansionError
from ..core.hashing import sha256_file
from ..segmentation import net
from ..segmentation.calibration import weights_calibration_hu

# manifest keys that describe one weight file: never carried over to other weights
WEIGHT_SPECIFIC_KEYS = ("metrics", "training", "blood_probability_threshold", "brain_calibration_hu")


def install_weights(weights: str | Path, training: dict | None = None, metrics: dict | None = None,
                    version: str | None = None, blood_threshold: float | None = None,
                    brain_calibration_hu: tuple[float, float] | list[float] | None = None) -> dict:
    """Copy weights into models/segmentation and write/refresh its manifest entry. Keys that describe
    the old weights (metrics, training, blood threshold, trained density range) are dropped when the
    weights change: new weights run at ``blood_threshold`` or the module default until they are tuned and
    benchmarked, and at ``brain_calibration_hu`` (``train-seg`` measures it on the training heads)."""
    if blood_threshold is not None and not 0.0 < blood_threshold < 1.0:
        raise HematomaExpansionError(f"--blood-threshold must be between 0 and 1, got {blood_threshold}")
    mdir = config.models_dir()
    dest = mdir / "segmentation" / f"{net.MODEL_ID}.pt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if Path(weights).resolve() != dest.resolve():
        shutil.copyfile(weights, dest)
    old = model_registry.read_manifest(mdir, required=False)["models"].get(net.MODEL_ID, {})
    entry = dict(old)
    sha = sha256_file(dest)
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
    if brain_calibration_hu is not None:
        entry["brain_calibration_hu"] = list(weights_calibration_hu({"brain_calibration_hu": brain_calibration_hu}))
    entry.setdefault("metrics", {})
    model_registry.write_entry(mdir, net.MODEL_ID, entry)
    net.clear_model_cache()
    return entry
