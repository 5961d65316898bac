"""Hematoma segmentation: the bundled network, the classical baseline, post-processing and method dispatch."""
