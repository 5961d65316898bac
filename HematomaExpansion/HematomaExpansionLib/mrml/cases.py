"""The panel's case list: which nodes belong to which case file, so going back keeps the user's edits."""

from __future__ import annotations

from typing import Any

ROLES = ("segmentation", "table", "heatmap")


class CaseNodes:
    """Node IDs per case path (the volume, and the segmentation/table/heatmap made for it)."""

    def __init__(self) -> None:
        self._ids: dict[str, dict[str, str]] = {}

    def clear(self) -> None:
        self._ids = {}

    def volume(self, path: str, scene: Any) -> Any:
        """The case's volume node when it was loaded and is still in ``scene``, else None."""
        known = self._ids.get(path)
        return scene.GetNodeByID(known["volume"]) if known else None

    def add(self, path: str, volume_node: Any) -> None:
        """Remember a freshly loaded case (its earlier outputs, if any, are forgotten)."""
        self._ids[path] = {"volume": volume_node.GetID()}

    def outputs(self, path: str, scene: Any) -> tuple[Any, Any, Any]:
        """The case's (segmentation, table, heatmap) nodes; None for each one absent."""
        known = self._ids.get(path, {})
        return tuple(scene.GetNodeByID(known.get(role, "")) for role in ROLES)

    def remember(self, volume_node: Any, segmentation: Any = None, table: Any = None, heatmap: Any = None) -> None:
        """Record the output nodes of the case whose volume is ``volume_node`` (no-op for other volumes)."""
        if not volume_node:
            return
        nodes = dict(zip(ROLES, (segmentation, table, heatmap), strict=True))
        for known in self._ids.values():
            if known.get("volume") == volume_node.GetID():
                known.update({role: node.GetID() if node else "" for role, node in nodes.items()})
