"""matplotlib, headless: a figure factory and PNG encoding for the HTML reports."""

from __future__ import annotations

import base64
import io


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
