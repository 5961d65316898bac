"""Clinical inputs: parsing what a user typed (CLI ``--clinical``, panel, batch CSV), the one
yes/no/missing vocabulary, canonical names, and the clinical features a model reads.

Canonical inputs: ``onset_to_ct_h`` (float hours), ``anticoagulation``, ``warfarin``,
``recurrent_ich`` (bool). Absent or unknown values stay absent: nothing is imputed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..core.errors import HematomaExpansionError

YES_WORDS = frozenset({"yes", "true", "y", "t", "on"})
NO_WORDS = frozenset({"no", "false", "n", "f", "off"})
MISSING_WORDS = frozenset({"", "na", "n/a", "nan", "unknown", "?", "missing", "null"})
VKA_WORDS = frozenset({"warfarin", "vka", "phenprocoumon", "acenocoumarol", "coumadin"})
DOAC_WORDS = frozenset({"doac", "noac", "apixaban", "rivaroxaban", "dabigatran", "edoxaban", "heparin", "lmwh"})

CLINICAL_ALIASES = {
    "onset_to_ct_h": ("onset_to_ct_h", "onset_to_ct_hours", "onset_to_ct", "time_to_ct_h", "hours_onset_to_ct", "onset_h"),
    "anticoagulation": ("anticoagulation", "anticoagulant", "oac", "anticoagulated"),
    "warfarin": ("warfarin", "vka"),
    "recurrent_ich": ("recurrent_ich", "prior_ich", "previous_ich"),
}
# model features derived from the canonical inputs (``clinical_features``)
CLINICAL_FEATURES = ("onset_to_ct_h", "log_onset_to_ct_h", "anticoagulation", "warfarin", "recurrent_ich")
MAX_ONSET_TO_CT_H = 24 * 30


def parse_clinical(text: str | Iterable[str]) -> dict[str, Any]:
    """``"age=71 gcs=13 anticoagulation=warfarin"`` (or a list of KEY=VALUE) → dict.

    Numbers become floats, yes/no words (``YES_WORDS``/``NO_WORDS``) booleans, anything else stays
    text (``normalize_clinical`` interprets the names and values).
    """
    items = text.replace(",", " ").replace(";", " ").split() if isinstance(text, str) else list(text)
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise HematomaExpansionError(f"clinical input {item!r} is not KEY=VALUE (for example age=71)")
        key, value = (s.strip() for s in item.split("=", 1))
        if not key:
            raise HematomaExpansionError(f"clinical input {item!r} has an empty name before '='")
        lowered = value.lower()
        if lowered in YES_WORDS:
            out[key] = True
        elif lowered in NO_WORDS:
            out[key] = False
        else:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


def as_bool(v: Any) -> bool | None:
    """yes/no in any usual spelling (``1``/``0``, ``none`` = no); None when missing/unknown."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        if isinstance(v, float) and math.isnan(v):
            return None
        return bool(v)
    s = str(v).strip().lower()
    if s in MISSING_WORDS:
        return None
    if s in YES_WORDS or s == "1":
        return True
    if s in NO_WORDS or s in ("0", "none"):
        return False
    raise ValueError(f"expected yes/no, got {v!r}")


def _onset_hours(v: Any) -> float | None:
    if v is None or str(v).strip().lower() in MISSING_WORDS:
        return None
    f = float(v)
    if not math.isfinite(f) or f < 0 or f > MAX_ONSET_TO_CT_H:
        raise ValueError("must be hours ≥ 0")
    return f


def _anticoagulation(v: Any, out: dict[str, Any]) -> None:
    s = str(v).strip().lower()
    if s in VKA_WORDS:
        out["anticoagulation"] = True
        out["warfarin"] = True
    elif s in DOAC_WORDS:
        out["anticoagulation"] = True
        out.setdefault("warfarin", False)
    else:
        b = as_bool(v)
        if b is not None:
            out["anticoagulation"] = b
            if b is False:
                out.setdefault("warfarin", False)


def normalize_clinical(clinical: dict[str, Any] | None) -> dict[str, Any]:
    """Canonical clinical inputs from any accepted spelling of names and values.

    Keys absent or given as empty/unknown stay absent. Raises ``HematomaExpansionError`` for a
    value that cannot be read (e.g. ``onset_to_ct_h=soon``).
    """
    out: dict[str, Any] = {}
    if not clinical:
        return out
    lower = {str(k).strip().lower(): v for k, v in clinical.items()}
    for key, aliases in CLINICAL_ALIASES.items():
        alias = next((a for a in aliases if a in lower), None)
        if alias is None:
            continue
        v = lower[alias]
        try:
            if key == "onset_to_ct_h":
                hours = _onset_hours(v)
                if hours is not None:
                    out[key] = hours
            elif key == "anticoagulation":
                _anticoagulation(v, out)
            else:
                b = as_bool(v)
                if b is not None:
                    out[key] = b
        except ValueError as exc:
            raise HematomaExpansionError(f"clinical input {alias}={v!r}: {exc}") from None
    if out.get("warfarin") is True:
        out["anticoagulation"] = True
    return out


def unused_clinical_inputs(clinical: dict[str, Any] | None) -> list[str]:
    """Names the user gave that no expansion model reads (e.g. ``age``), so they can be told."""
    known = {alias for aliases in CLINICAL_ALIASES.values() for alias in aliases}
    return sorted(str(k) for k in (clinical or {}) if str(k).strip().lower() not in known)


def clinical_features(clinical: dict[str, Any] | None) -> dict[str, float]:
    """The model's clinical features (``CLINICAL_FEATURES``) of the inputs that were given."""
    c = normalize_clinical(clinical)
    out: dict[str, float] = {}
    if "onset_to_ct_h" in c:
        out["onset_to_ct_h"] = float(c["onset_to_ct_h"])
        out["log_onset_to_ct_h"] = math.log1p(float(c["onset_to_ct_h"]))
    for k in ("anticoagulation", "warfarin", "recurrent_ich"):
        if k in c:
            out[k] = float(bool(c[k]))
    return out
