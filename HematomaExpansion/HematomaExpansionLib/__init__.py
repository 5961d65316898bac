"""HematomaExpansion core: hematoma segmentation and expansion prediction from baseline NCCT.

Importable without 3D Slicer. Only ``mrml_bridge`` imports ``slicer`` (and never Qt).
"""

__version__ = "0.1.0"
