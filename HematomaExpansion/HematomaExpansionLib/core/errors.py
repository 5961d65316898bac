"""Exceptions for user-facing problems. The CLI prints their message and exits non-zero, no traceback."""


class HematomaExpansionError(Exception):
    """Base class: a problem the user can act on (bad input, missing model, ...)."""

    exit_code = 2


class InputNotFoundError(HematomaExpansionError):
    """The given path does not exist or holds nothing readable."""


class UnreadableImageError(HematomaExpansionError):
    """The file exists but is not an image SimpleITK can read (corrupt, text, wrong format)."""


class NotACTError(HematomaExpansionError):
    """The image is not a CT in Hounsfield units (MR, wrong units, wrong modality)."""


class GeometryError(HematomaExpansionError):
    """Unsupported geometry: not 3D, 4D, too few slices, huge spacing, gantry tilt not correctable."""


class SegmentationError(HematomaExpansionError):
    """A mask that cannot be used (wrong geometry, empty where a hematoma is required, ...)."""


class NoHemorrhageError(SegmentationError):
    """No hemorrhage was found (or the given mask is empty): there is nothing to score."""


class ModelError(HematomaExpansionError):
    """A bundled or user model is missing, corrupt (sha256 mismatch) or incompatible."""


class CohortError(HematomaExpansionError):
    """A cohort table for train/evaluate is malformed."""
