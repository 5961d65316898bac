"""The Python packages the core needs, pinned once: pyproject.toml's ``dependencies`` and the Slicer
module's installer both come from ``REQUIREMENTS`` (``Testing/test_dependencies.py`` checks that
pyproject agrees), plus how to install them into a clean Slicer and the versions to record.

Install order in a clean Slicer (the same as the Makefile's): torch first (so nothing pulls another
build), then pyradiomics' build prerequisites (``BUILD_PREREQUISITES``), then pyradiomics with
``--no-build-isolation`` (it builds from source against the numpy that is already there), then the
rest. Nothing here imports the packages it describes; versions come from the installed metadata.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

try:  # present wherever pip is (Slicer bundles it); without it only presence is checked
    from packaging.requirements import Requirement
except ImportError:  # pragma: no cover
    Requirement = None

# (distribution requirement, import name). The order is the install order.
REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("torch==2.13.0", "torch"),
    ("numpy>=1.24", "numpy"),
    ("scipy>=1.10", "scipy"),
    ("edt>=3.0", "edt"),
    ("SimpleITK>=2.2", "SimpleITK"),
    ("scikit-learn>=1.3", "sklearn"),
    ("pyradiomics==3.0.1", "radiomics"),
    ("matplotlib>=3.7", "matplotlib"),
    ("tqdm>=4.60", "tqdm"),
    ("pydicom>=3.0.1", "pydicom"),
    ("highdicom>=0.28", "highdicom"),
    ("distributed>=2024.1", "distributed"),
)
# pyradiomics 3.0.1 has no wheel for current Pythons: its setup.py needs these at build time.
BUILD_PREREQUISITES: tuple[str, ...] = ("numpy", "setuptools", "wheel", "versioneer")
NO_BUILD_ISOLATION: frozenset[str] = frozenset({"pyradiomics"})
# Only the CLI's Dask batch executor uses it: the Slicer panel does not install it.
NOT_NEEDED_IN_SLICER: tuple[str, ...] = ("distributed",)
# Versions written into every result (result.json "software", the panel's results table).
RECORDED_PACKAGES: tuple[str, ...] = ("torch", "pyradiomics", "numpy", "SimpleITK", "scikit-learn")

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def distribution_name(requirement: str) -> str:
    """``"pyradiomics==3.0.1"`` → ``"pyradiomics"``."""
    match = _NAME.match(requirement)
    if not match:
        raise ValueError(f"not a requirement: {requirement!r}")
    return match.group(1)


def canonical(name: str) -> str:
    """PEP 503 normalised name (``scikit_learn`` == ``Scikit-Learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_strings() -> list[str]:
    """The pinned requirements, as pyproject.toml lists them."""
    return [req for req, _ in REQUIREMENTS]


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _satisfied(requirement: str, version: str | None) -> bool:
    if version is None:
        return False
    if Requirement is None:  # no packaging: presence is all that can be checked
        return True
    return Requirement(requirement).specifier.contains(version, prereleases=True)


def missing_requirements(versions: Mapping[str, str | None] | None = None, skip: Iterable[str] = ()) -> list[str]:
    """Requirements not satisfied by what is installed (``versions``: distribution → version, for tests;
    ``skip``: distributions not needed here, e.g. ``NOT_NEEDED_IN_SLICER``).

    A package that imports but has no pip metadata (built into Slicer, e.g. its SimpleITK) counts as
    present: installing over an application's own build would break it.
    """
    missing = []
    skipped = {canonical(name) for name in skip}
    for requirement, import_name in REQUIREMENTS:
        name = distribution_name(requirement)
        if canonical(name) in skipped:
            continue
        if versions is not None:
            version = versions.get(name)
        else:
            version = installed_version(name)
            if version is None and importlib.util.find_spec(import_name) is not None:
                continue
        if not _satisfied(requirement, version):
            missing.append(requirement)
    return missing


@dataclass(frozen=True)
class InstallStep:
    """One ``pip install`` call: its arguments (requirements and options) and what it is for."""

    args: tuple[str, ...]
    purpose: str


def install_plan(missing: Iterable[str]) -> list[InstallStep]:
    """The pip calls that install ``missing`` in a clean Slicer, in order (empty when nothing is missing)."""
    missing = list(missing)
    if not missing:
        return []
    steps: list[InstallStep] = []
    names = {canonical(distribution_name(r)): r for r in missing}
    if "torch" in names:
        steps.append(InstallStep((names.pop("torch"),), "PyTorch (segmentation network and image model)"))
    isolated = [r for n, r in names.items() if n in NO_BUILD_ISOLATION]
    if isolated:
        steps.append(InstallStep(BUILD_PREREQUISITES, "build prerequisites of pyradiomics"))
        steps.append(InstallStep(("--no-build-isolation", *isolated), "pyradiomics (built from source)"))
    rest = [r for n, r in names.items() if n not in NO_BUILD_ISOLATION]
    if rest:
        steps.append(InstallStep(tuple(rest), "other packages"))
    return steps


def restart_needed(before: Mapping[str, str | None], after: Mapping[str, str | None],
                   imported: Iterable[str], import_names: Mapping[str, str] | None = None) -> list[str]:
    """Distributions whose version changed while their module was already imported: Python keeps the old
    code in memory, so Slicer must be restarted. ``before``/``after``: distribution → version."""
    import_names = import_names or {distribution_name(r): i for r, i in REQUIREMENTS}
    imported = set(imported)
    changed = []
    for name, new in after.items():
        old = before.get(name)
        if new is not None and old is not None and old != new and import_names.get(name, name) in imported:
            changed.append(f"{name} {old} -> {new}")
    return changed


def package_versions(names: Iterable[str] = RECORDED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages results record (None = not installed)."""
    return {name: installed_version(name) for name in names}
