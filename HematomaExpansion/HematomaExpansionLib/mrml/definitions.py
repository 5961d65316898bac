"""Expansion definitions as the panel offers them ("default" = the model's own) and their pipeline value."""

from __future__ import annotations

from ..expansion.labels import DEFINITIONS

NO_DEFINITION = "default"  # the GUI's name for "the model's own default definition"


def available_definitions() -> list[str]:
    """Expansion definitions the bundled models offer, ``"default"`` first (= the model's default)."""
    return [NO_DEFINITION] + [str(name) for name in DEFINITIONS if name != NO_DEFINITION]


def definition_argument(definition: str | None) -> str | None:
    """GUI value → pipeline argument (``"default"``/empty → None)."""
    return None if not definition or definition == NO_DEFINITION else definition
