"""Clinical inputs typed by a user (CLI ``--clinical``, the Slicer panel's text field, batch CSVs)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import HematomaExpansionError

TRUE_WORDS = ("yes", "true", "y")
FALSE_WORDS = ("no", "false", "n")


def parse_clinical(text: str | Iterable[str]) -> dict[str, Any]:
    """``"age=71 gcs=13 anticoagulation=warfarin"`` (or a list of KEY=VALUE) → dict.

    Numbers become floats, yes/true and no/false become booleans, anything else stays text
    (the model's own normaliser, ``ncct_signs.normalize_clinical``, interprets the names).
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
        if lowered in TRUE_WORDS:
            out[key] = True
        elif lowered in FALSE_WORDS:
            out[key] = False
        else:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out
