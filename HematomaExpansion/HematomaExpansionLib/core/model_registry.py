"""The model manifest (``models/manifest.json``): the one place that reads, verifies and writes it.

Each entry: ``file`` (relative to the models folder), ``sha256``, ``version``, ``kind`` and what
describes the model (training record, metrics, card). Weights are only loaded after their sha256
matched the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import config
from .errors import ModelError
from .hashing import sha256_file

MANIFEST_NAME = "manifest.json"


def manifest_path(models_dir: str | Path | None = None) -> Path:
    return Path(models_dir if models_dir is not None else config.models_dir()) / MANIFEST_NAME


def read_manifest(models_dir: str | Path | None = None, required: bool = True) -> dict[str, Any]:
    """The manifest as a dict (``{"models": {...}}``). A missing one raises when ``required``,
    else gives an empty manifest; an unreadable one always raises ``ModelError``."""
    path = manifest_path(models_dir)
    if not path.exists():
        if not required:
            return {"models": {}}
        raise ModelError(
            f"no model manifest at {path}; the bundled models are missing. Reinstall, set HEMEXP_MODELS_DIR, "
            "or rebuild with scripts/build_expansion_model.sh"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"model manifest {path} is not valid JSON or cannot be read: {exc}") from None
    manifest.setdefault("models", {})
    return manifest


def model_entry(model_id: str, models_dir: str | Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """(absolute file path, manifest entry) of ``model_id``, or None when the manifest or entry is absent."""
    mdir = Path(models_dir if models_dir is not None else config.models_dir())
    entry = read_manifest(mdir, required=False)["models"].get(model_id)
    if not entry:
        return None
    return mdir / entry["file"], entry


def verify_file(path: Path, sha256: str | None, what: str) -> None:
    """Refuse a model file that is missing, unlisted or changed since the manifest was written."""
    if not path.exists():
        raise ModelError(f"{what} file {path} listed in the manifest is missing")
    if not sha256:
        raise ModelError(f"{what} file {path} has no sha256 in the manifest; refusing to load an unverified model")
    actual = sha256_file(path)
    if actual != sha256:
        raise ModelError(
            f"{what} file {path} is corrupt or was changed: sha256 {actual[:12]}… does not match the "
            f"manifest's {sha256[:12]}…. Restore the bundled file or rebuild the model"
        )


def write_entry(models_dir: str | Path, model_id: str, entry: dict[str, Any]) -> Path:
    """Add or replace one entry (other models kept); written atomically. Returns the manifest path."""
    path = manifest_path(models_dir)
    try:
        manifest = read_manifest(models_dir, required=False)
    except ModelError as exc:
        raise ModelError(f"{exc}; fix it before writing a model") from None
    manifest["models"][model_id] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(path)
    return path
