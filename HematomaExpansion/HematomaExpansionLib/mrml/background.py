"""Long steps off the GUI thread, cancellable: automatic segmentation in a subprocess, model loading in
a worker thread. Qt-free: the panel passes a ``pump(elapsed_s) -> bool`` that keeps the GUI alive
(``slicer.app.processEvents`` and a progress dialog) and returns False when the user pressed Cancel.

MRML nodes are only read before and written after a task, on the calling (GUI) thread; the task
itself sees plain arrays. Scripts keep the blocking calls of ``mrml.logic``.

- ``SubprocessTask``: cancel kills the process (a real stop: nothing keeps computing).
- ``ThreadTask``: a Python thread cannot be killed; cancel stops waiting and drops the result (the
  thread finishes on its own; ``running`` says so, and the panel refuses a second start meanwhile).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.ct_image import CTImage
from ..core.errors import HematomaExpansionError, SegmentationError
from ..io.ct_files import write_float_volume
from ..io.masks import read_mask

log = logging.getLogger(__name__)

Pump = Callable[[float], bool]
PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder that holds HematomaExpansionLib
OUTPUT_TAIL_CHARS = 4000


class CancelledError(HematomaExpansionError):
    """The user cancelled a long step; nothing was written to the scene."""


class ThreadTask:
    """``fn(*args, **kwargs)`` in a daemon thread; ``result()`` returns its value or re-raises its error."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"hemexp-{getattr(fn, '__name__', 'task')}", daemon=True)
        self.cancelled = False

    def _run(self) -> None:
        try:
            self._value = self._fn(*self._args, **self._kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def start(self) -> ThreadTask:
        self._thread.start()
        return self

    def done(self) -> bool:
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def cancel(self) -> None:
        self.cancelled = True  # the thread runs to its end; its result is dropped

    def result(self) -> Any:
        if self.cancelled:
            raise CancelledError("cancelled")
        if self._error is not None:
            raise self._error
        return self._value


class SubprocessTask:
    """A command in a child process; cancel kills it. Output (stdout + stderr) is kept for errors."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
        self.command = [str(c) for c in command]
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile(mode="w+b")
        self._output: str | None = None
        self.cancelled = False

    def start(self) -> SubprocessTask:
        log.info("running %s", " ".join(self.command))
        self._process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT, env=self._env,
                                         cwd=self._cwd, stdin=subprocess.DEVNULL)
        return self

    def done(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def cancel(self) -> None:
        self.cancelled = True
        if self.running:
            self._process.kill()
            self._process.wait(timeout=30)

    def output(self) -> str:
        """What the process printed so far (all of it once it has ended)."""
        if self._output is not None:
            return self._output
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        if self.done() or self.cancelled:
            self._output = text
            self._log.close()
        return text

    def result(self) -> str:
        if self.cancelled:
            raise CancelledError("cancelled")
        code = self._process.returncode if self._process is not None else None
        out = self.output()
        if code != 0:
            raise HematomaExpansionError(f"{Path(self.command[0]).name} failed (exit status {code}): {out[-OUTPUT_TAIL_CHARS:]}")
        return out


def wait_for(task: Any, pump: Pump | None = None, interval_s: float = 0.05) -> Any:
    """Wait for a started task, calling ``pump(elapsed_s)`` every ``interval_s``; when it returns False the
    task is cancelled and ``CancelledError`` raised. Without ``pump`` this simply blocks."""
    start = time.monotonic()
    while not task.done():
        if pump is not None and not pump(time.monotonic() - start):
            task.cancel()
            raise CancelledError("cancelled")
        time.sleep(interval_s)
    return task.result()


def python_environment(extra_path: Path = PACKAGE_PARENT, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment in which a child Python imports this package (``extra_path`` first on PYTHONPATH)."""
    env = dict(os.environ if base is None else base)
    paths = [str(extra_path)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def segmentation_command(ct_path: Path, mask_path: Path, method: str, python: str | None = None) -> list[str]:
    """The CLI call that segments ``ct_path`` into ``mask_path`` (``hematoma-expansion segment``)."""
    return [python or sys.executable, "-m", "HematomaExpansionLib.cli", "segment", str(ct_path), "-o", str(mask_path),
            "--method", method]


def segment_in_subprocess(ct: CTImage, method: str = "auto", pump: Pump | None = None, python: str | None = None,
                          env: Mapping[str, str] | None = None, workdir: Path | None = None) -> np.ndarray:
    """Segment ``ct`` in a child process (the same ``segmentation.dispatch.segment`` as in-process, so
    the same labels); returns uint8 labels on ``ct``'s grid. Cancelling kills the child.

    ``python``: the interpreter (in Slicer: PythonSlicer); ``env``: its environment (this package is
    added to its PYTHONPATH).
    """
    with tempfile.TemporaryDirectory(prefix="hemexp-seg-", dir=workdir) as tmp:
        ct_path, mask_path = Path(tmp) / "ct.nrrd", Path(tmp) / "mask.nrrd"
        write_float_volume(ct, ct.array, ct_path)  # NRRD keeps the geometry in double precision
        task = SubprocessTask(segmentation_command(ct_path, mask_path, method, python), python_environment(base=env))
        wait_for(task.start(), pump)
        if not mask_path.exists():
            raise SegmentationError(f"the segmentation process wrote no mask; its output: {task.output()[-OUTPUT_TAIL_CHARS:]}")
        ct.metadata["density_calibration"] = _summary(task.output()).get("density_calibration", {})
        return read_mask(mask_path, ct)


def _summary(output: str) -> dict[str, Any]:
    """The JSON summary line ``hematoma-expansion segment`` prints last ({} when there is none)."""
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return {}
    return {}
