"""Installing the core's Python packages into a clean Slicer, after asking.

The pins are ``HematomaExpansionLib.core.dependencies.REQUIREMENTS`` (the same list as pyproject.toml)
and the order is its ``install_plan``: PyTorch (through the PyTorch extension when it is installed, as
it picks the right CPU/CUDA build), pyradiomics' build prerequisites, pyradiomics with
``--no-build-isolation``, then the rest. ``slicer.packaging.pip_ensure`` is used where Slicer has it
(5.10+), ``slicer.util.pip_install`` otherwise. ``distributed`` (the CLI's Dask executor) is not installed. When a package that was already imported changed
version, the user is told that Slicer must be restarted.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

import slicer
from slicer.i18n import tr as _

from HematomaExpansionLib.core import dependencies

REQUESTER = "Hematoma Expansion"


def _installTorch(requirement: str) -> bool:
    """Install torch with the PyTorch extension's helper; False when that extension is absent or fails."""
    if importlib.util.find_spec("PyTorchUtils") is None:
        return False
    try:
        import PyTorchUtils

        version = requirement[len("torch"):]
        PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False, torchVersionRequirement=version)
        return True
    except Exception as exc:  # noqa: BLE001 - fall back to plain pip
        logging.warning(f"{REQUESTER}: the PyTorch extension could not install {requirement} ({exc}); using pip")
        return False


def _pip(args: tuple) -> None:
    packaging = getattr(slicer, "packaging", None)
    if packaging is not None and hasattr(packaging, "pip_ensure") and not any(a.startswith("-") for a in args):
        packaging.pip_ensure(list(args), prompt_install=False, prompt_restart=False, requester=REQUESTER)
    else:  # options such as --no-build-isolation, or a Slicer without slicer.packaging
        slicer.util.pip_install(" ".join(args))


def ensureDependencies(askConfirmation: bool = True) -> bool:
    """Install what is missing (after asking). True when every requirement is met afterwards."""
    missing = dependencies.missing_requirements(skip=dependencies.NOT_NEEDED_IN_SLICER)
    if not missing:
        return True
    plan = dependencies.install_plan(missing)
    if askConfirmation:
        details = "\n".join(f"pip install {' '.join(step.args)}    ({step.purpose})" for step in plan)
        question = _("Hematoma Expansion needs these Python packages: {packages}.\n\n"
                     "Install them now into Slicer's Python? This downloads several hundred MB and may take "
                     "minutes.").format(packages=", ".join(missing))
        if not slicer.util.confirmOkCancelDisplay(question, windowTitle=_("Install Python packages"), detailedText=details):
            return False
    names = [dependencies.distribution_name(req) for req, _importName in dependencies.REQUIREMENTS]
    before = {name: dependencies.installed_version(name) for name in names}
    with slicer.util.tryWithErrorDisplay(_("Installing the Python packages failed."), waitCursor=True):
        for step in plan:
            logging.info(f"{REQUESTER}: installing {' '.join(step.args)} ({step.purpose})")
            if step.args[0].startswith("torch") and _installTorch(step.args[0]):
                continue
            _pip(step.args)
    importlib.invalidate_caches()
    after = {name: dependencies.installed_version(name) for name in names}
    changed = dependencies.restart_needed(before, after, sys.modules)
    if changed:
        slicer.util.warningDisplay(
            _("Packages that were already loaded changed version:\n{changed}\n\nRestart Slicer before using "
              "Hematoma Expansion.").format(changed="\n".join(changed)), windowTitle=_("Restart Slicer"))
        return False
    still = dependencies.missing_requirements(skip=dependencies.NOT_NEEDED_IN_SLICER)
    if still:
        slicer.util.errorDisplay(_("Still missing after installation: {p}. See the Python console for pip's output.")
                                 .format(p=", ".join(still)))
    return not still
