"""matplotlib, headless: a figure factory and PNG encoding for the HTML reports."""

from __future__ import annotations

import base64
import io

import numpy as np

from ..core.results import LABEL_IPH, LABEL_IVH

BRAIN_WINDOW_HU = (0.0, 80.0)
OUTLINE_COLOURS = ((LABEL_IPH, "#ff3030"), (LABEL_IVH, "#30d0ff"))  # IPH red, IVH cyan


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported on first use: heavy, and never needs a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig, dpi: int = 80, tight: bool = False) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    pyplot().close(fig)
    return buf.getvalue()


def png_base64(fig, dpi: int = 80, tight: bool = False) -> str:
    """The figure as base64 PNG text for a ``data:image/png;base64,`` URL; the figure is closed."""
    return base64.b64encode(png_bytes(fig, dpi, tight)).decode("ascii")


def draw_axial_slice(ax, hu: np.ndarray, labels: np.ndarray, aspect: float, title: str, heat: np.ndarray | None = None,
                     fontsize: int = 10) -> None:
    """One canonical axial slice: brain window, optional heatmap, IPH/IVH outlines, title."""
    # Radiological convention: patient left on the image right (canonical columns run to L).
    ax.imshow(np.clip(hu, *BRAIN_WINDOW_HU), cmap="gray", aspect=aspect, interpolation="bilinear")
    if heat is not None:
        ax.imshow(np.ma.masked_less(heat, 0.2), cmap="inferno", alpha=0.45, vmin=0, vmax=1, aspect=aspect)
    for value, colour in OUTLINE_COLOURS:
        if (labels == value).any():
            ax.contour(labels == value, [0.5], colors=colour, linewidths=1.0)
    ax.set_title(title, fontsize=fontsize)
    ax.axis("off")
