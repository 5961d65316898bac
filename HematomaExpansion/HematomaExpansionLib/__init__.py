"""HematomaExpansion core: hematoma segmentation and expansion prediction from baseline NCCT.

Importable without 3D Slicer. Stage packages, lowest first, each importing only itself and lower
stages: core → io → anatomy → segmentation → features → expansion → outputs → pipeline → mrml,
then the development and entry layers simulation → training → cli, which no run-time stage
imports. Only ``mrml`` imports ``slicer`` (and never Qt). ``Testing/test_layering.py`` enforces this.
"""

__version__ = "0.1.0"
