"""One pinned list of Python packages (core.dependencies), the same as pyproject.toml's, and how the
Slicer panel installs it into a clean Slicer; the versions every result records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from HematomaExpansionLib.core import dependencies as deps

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_dependencies_are_the_pinned_list():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(project["dependencies"]) == sorted(deps.requirement_strings())
    pins = {deps.canonical(deps.distribution_name(r)): r for r in deps.requirement_strings()}
    assert pins["torch"] == "torch==2.13.0" and pins["pyradiomics"] == "pyradiomics==3.0.1"


def test_makefile_installs_the_same_pins_in_the_same_order():
    makefile = (ROOT / "Makefile").read_text()
    assert '"torch==2.13.0"' in makefile and '--no-build-isolation "pyradiomics==3.0.1"' in makefile
    assert makefile.index("torch==2.13.0") < makefile.index(" ".join(deps.BUILD_PREREQUISITES)) < makefile.index("pyradiomics==")


def test_install_plan_for_a_clean_slicer():
    plan = deps.install_plan(deps.requirement_strings())
    assert [s.args for s in plan[:3]] == [("torch==2.13.0",), ("numpy", "setuptools", "wheel", "versioneer"),
                                          ("--no-build-isolation", "pyradiomics==3.0.1")]
    rest = plan[3].args
    assert "scipy>=1.10" in rest and "highdicom>=0.28" in rest and not any("torch" in r or "pyradiomics" in r for r in rest)
    assert len(rest) == len(deps.REQUIREMENTS) - 2  # everything but torch and pyradiomics, once
    assert deps.install_plan([]) == []
    only = deps.install_plan(["scipy>=1.10"])
    assert [s.args for s in only] == [("scipy>=1.10",)]  # no build prerequisites without pyradiomics


def test_missing_requirements_compares_versions():
    versions = {deps.distribution_name(r): "9999.0" for r in deps.requirement_strings()}
    versions["torch"], versions["pyradiomics"] = "2.13.0", "3.0.1"
    assert deps.missing_requirements(versions) == []
    versions["torch"] = "2.1.0"
    versions["scipy"] = None
    assert deps.missing_requirements(versions) == ["torch==2.13.0", "scipy>=1.10"]
    versions["distributed"] = None
    assert deps.missing_requirements(versions, skip=deps.NOT_NEEDED_IN_SLICER) == ["torch==2.13.0", "scipy>=1.10"]


def test_this_environment_meets_the_pins():
    assert deps.missing_requirements() == []


def test_restart_needed_only_for_changed_packages_already_imported():
    before = {"numpy": "1.26.0", "scipy": None, "torch": "2.12.0"}
    after = {"numpy": "2.0.0", "scipy": "1.14.0", "torch": "2.13.0"}
    assert deps.restart_needed(before, after, imported={"numpy"}) == ["numpy 1.26.0 -> 2.0.0"]
    assert deps.restart_needed(before, after, imported={"scipy"}) == []  # freshly installed: nothing stale
    assert deps.restart_needed(before, after, imported=set()) == []


def test_versions_are_recorded_in_result_json(tmp_path, small_sample_case):
    from HematomaExpansionLib.outputs.case_outputs import write_case_outputs
    from HematomaExpansionLib.pipeline.run_case import run_pipeline

    ct, labels, _ = small_sample_case
    prediction = run_pipeline(ct, mask=labels, score=False)
    paths = write_case_outputs(ct, prediction, tmp_path / "case")
    doc = json.loads(paths["result"].read_text())
    packages = doc["software"]["packages"]
    assert packages["torch"] == deps.installed_version("torch") and packages["torch"].startswith("2.13.0")
    assert packages["pyradiomics"] == "3.0.1"
    html = paths["report"].read_text()
    assert f"torch {packages['torch']}" in html and "pyradiomics 3.0.1" in html


@pytest.mark.parametrize("requirement, name", [("scikit-learn>=1.3", "scikit-learn"), ("SimpleITK>=2.2", "SimpleITK"),
                                               ("torch==2.13.0", "torch")])
def test_distribution_names(requirement, name):
    assert deps.distribution_name(requirement) == name
