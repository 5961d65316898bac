"""Progress with Cancel for the panel's long steps, and the interpreter that runs segmentation apart.

``ProgressPump`` is the ``pump`` of ``HematomaExpansionLib.mrml.background``: called every few
milliseconds while a subprocess or thread works, it keeps Slicer responsive
(``slicer.app.processEvents``) and returns False once the user pressed Cancel.
"""

from __future__ import annotations

import logging
import os
import shutil
from contextlib import contextmanager
from typing import Optional

import qt
import slicer


class ProgressPump:
    """A modal, busy-style ``qt.QProgressDialog`` with a Cancel button and the elapsed time."""

    def __init__(self, title: str, text: str, parent=None) -> None:
        self.text = text
        self.dialog = qt.QProgressDialog(parent or slicer.util.mainWindow())
        self.dialog.setWindowTitle(title)
        self.dialog.setLabelText(text)
        self.dialog.setRange(0, 0)  # no known fraction: a busy indicator
        self.dialog.setMinimumDuration(0)
        self.dialog.setWindowModality(qt.Qt.WindowModal)
        self.dialog.setCancelButtonText("Cancel")
        self.dialog.show()
        slicer.app.processEvents()

    def step(self, text: str) -> None:
        """Show which step runs now (e.g. after loading the model, the segmentation)."""
        self.text = text
        self.dialog.setLabelText(text)
        slicer.app.processEvents()

    def __call__(self, elapsed_s: float) -> bool:
        self.dialog.setLabelText(f"{self.text} ({elapsed_s:.0f} s)")
        slicer.app.processEvents()
        return not self.dialog.wasCanceled

    def close(self) -> None:
        self.dialog.hide()
        self.dialog.deleteLater()


@contextmanager
def progress(title: str, text: str):
    """``with progress(...) as pump:`` - the dialog is closed whatever happens."""
    pump = ProgressPump(title, text)
    try:
        yield pump
    finally:
        pump.close()


def segmentationPython() -> tuple[Optional[str], Optional[dict]]:
    """(interpreter, environment) for segmenting in a child process: Slicer's PythonSlicer launcher with
    the environment Slicer started from; (None, None) when there is none (segment in a thread then)."""
    python = shutil.which("PythonSlicer")
    if python is None:
        home = getattr(slicer.app, "slicerHome", "")
        for candidate in ("bin/PythonSlicer", "bin/PythonSlicer.exe"):
            path = os.path.join(home, candidate)
            if home and os.path.exists(path):
                python = path
                break
    if python is None:
        logging.info("HematomaExpansion: PythonSlicer not found; segmentation runs in a thread (Cancel stops waiting)")
        return None, None
    try:
        env = dict(slicer.util.startupEnvironment())
    except Exception:  # noqa: BLE001 - older Slicer: the current environment
        env = dict(os.environ)
    return python, env
