#!/usr/bin/env python
"""Rewrite MODULE_PYTHON_SCRIPTS / MODULE_PYTHON_RESOURCES in HematomaExpansion/CMakeLists.txt from
the files on disk (Slicer's convention is an explicit list; Testing/test_slicer_module_static.py
checks it). Run after adding or removing a module file: `python scripts/update_cmake_sources.py`."""

from __future__ import annotations

import re
from pathlib import Path

MODULE = Path(__file__).resolve().parents[1] / "HematomaExpansion"
LIB = MODULE / "HematomaExpansionLib"
WIDGETS = MODULE / "HematomaExpansionWidgets"  # the panel's Qt parts (Slicer only)


def listed_block(variable: str, items: list[str]) -> str:
    body = "".join(f"  {i}\n" for i in items)
    return f"set({variable}\n{body}  )"


def main() -> None:
    scripts = sorted(p.relative_to(MODULE).as_posix() for p in MODULE.glob("*.py"))
    scripts += sorted(p.relative_to(MODULE).as_posix() for p in LIB.rglob("*.py") if "__pycache__" not in p.parts)
    scripts += sorted(p.relative_to(MODULE).as_posix() for p in WIDGETS.rglob("*.py") if "__pycache__" not in p.parts)
    scripts = [s.replace("HematomaExpansion", "${MODULE_NAME}", 1) if not s.startswith("HematomaExpansionLib/resources")
               else s for s in scripts]
    resources = sorted(p.relative_to(MODULE).as_posix() for p in (LIB / "resources").rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts)
    resources += sorted(p.relative_to(MODULE).as_posix().replace("HematomaExpansion.", "${MODULE_NAME}.")
                        for p in (MODULE / "Resources").rglob("*") if p.is_file())
    path = MODULE / "CMakeLists.txt"
    text = path.read_text()
    for variable, items in (("MODULE_PYTHON_SCRIPTS", scripts), ("MODULE_PYTHON_RESOURCES", resources)):
        text = re.sub(rf"set\(\s*{variable}\s+.*?\)", listed_block(variable, items), text, count=1, flags=re.S)
    path.write_text(text)
    print(f"{path}: {len(scripts)} scripts, {len(resources)} resources")


if __name__ == "__main__":
    main()
