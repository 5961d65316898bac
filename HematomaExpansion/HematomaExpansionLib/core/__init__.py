"""Lowest layer: the CT image type, errors, configuration, result types, hashing and the model registry."""
