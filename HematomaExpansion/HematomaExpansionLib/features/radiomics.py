"""Radiomics of the intraparenchymal hematoma with pyradiomics and the committed CT parameter file.

Parameter file: ``resources/radiomics_ct.yaml`` (bin width 25 HU, isotropic 1 mm resampling,
crop before filtering, original image; filters selectable). Features keep pyradiomics' names
(``original_firstorder_Mean``, ``log-sigma-1-0-mm-3D_glcm_Contrast``, ...); the diagnostics
entries (``diagnostics_*``) are neither computed nor returned.

The ROI is the IPH (label 1). When a mask has no IPH (IVH only), all hemorrhage is used.

Re-scoring (``extract(..., features=names, cache=entry)``) gives pyradiomics' values for the
named features at a fraction of the cost:
- only the feature classes of ``features`` run (a model uses a dozen of ~100 features); the shape
  class skips its surface mesh when only principal-axis features (elongation, ...) are asked for;
- the mask-independent work is kept per CT (``features.ct_cache``): the CT as a SimpleITK image
  and its B-spline resampling onto pyradiomics' 1 mm grid over the hematoma's region (+
  ``REGION_MARGIN_MM``), from which each call cuts exactly the box pyradiomics' ``resampleImage``
  would compute. The grid is pyradiomics' own (anchored at the CT's origin; only its extent
  depends on the mask), so the cut voxels are the voxels pyradiomics computes, to float rounding.
Everything after the resampling is pyradiomics' ``execute``, step by step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..core.config import RESOURCES_DIR
from ..core.ct_image import CTImage
from ..core.errors import HematomaExpansionError, SegmentationError
from .ct_cache import CTCache

PARAMS_FILE = RESOURCES_DIR / "radiomics_ct.yaml"
FILTERS = ("Original", "LoG", "Wavelet", "Square", "SquareRoot", "Logarithm", "Exponential", "Gradient", "LBP3D")
FEATURE_CLASSES = ("shape", "shape2D", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
# shape features from the principal axes of the voxel coordinates (no surface mesh needed)
PRINCIPAL_AXES_FEATURES = frozenset({"MajorAxisLength", "MinorAxisLength", "LeastAxisLength", "Elongation",
                                     "Flatness", "VoxelVolume"})
REGION_MARGIN_MM = 10.0  # the cached 1 mm region reaches this far beyond the box asked for (edits stay inside)
# B-spline prefilter boundary effect decays as 0.268^n voxels: 32 voxels of input around the region
# make a cropped input give the whole scan's coefficients (to ~1e-18 relative)
INPUT_MARGIN_VOXELS = 32

_EXTRACTORS: dict[tuple, Any] = {}
_SHAPE_CLASS: list[type] = []


def _quiet() -> None:
    import radiomics

    radiomics.setVerbosity(logging.ERROR)
    for name in ("radiomics", "radiomics.featureextractor", "radiomics.imageoperations", "radiomics.glcm"):
        logging.getLogger(name).setLevel(logging.ERROR)


def split_name(name: str) -> tuple[str, str, str] | None:
    """``(image type, feature class, feature)`` of a pyradiomics feature name; None for other names."""
    parts = name.rsplit("_", 2)
    if len(parts) != 3 or parts[1] not in FEATURE_CLASSES or not parts[0] or not parts[2]:
        return None
    return parts[0], parts[1], parts[2]


def radiomics_names(names: Iterable[str]) -> list[str]:
    """The pyradiomics feature names among ``names`` (a model's features: radiomics, signs, deep, ...)."""
    return sorted({n for n in names if split_name(n) is not None})


def _by_class(features: Iterable[str] | None) -> dict[str, list[str]] | None:
    if features is None:
        return None
    out: dict[str, set[str]] = {}
    for name in features:
        parts = split_name(name)
        if parts is None:
            raise HematomaExpansionError(f"{name!r} is not a pyradiomics feature name (imagetype_class_Feature)")
        out.setdefault(parts[1], set()).add(parts[2])
    return {k: sorted(v) for k, v in sorted(out.items())}


def extractor(filters: Iterable[str] = ("Original",), params: str | Path | None = None,
              features: Iterable[str] | None = None):
    """A (cached) pyradiomics extractor from the parameter file with the given image types enabled;
    with ``features`` (pyradiomics names), only their feature classes and features."""

    filters = tuple(filters)
    bad = [f for f in filters if f not in FILTERS]
    if bad:
        raise HematomaExpansionError(f"unknown radiomics filter(s) {bad}; choose from {', '.join(FILTERS)}")
    by_class = _by_class(features)
    key = (filters, str(params or PARAMS_FILE),
           None if by_class is None else tuple((k, tuple(v)) for k, v in by_class.items()))
    if key not in _EXTRACTORS:
        _quiet()
        from radiomics import featureextractor

        ex = featureextractor.RadiomicsFeatureExtractor(str(params or PARAMS_FILE))
        ex.settings["additionalInfo"] = False  # the diagnostics (image hashes, ...) cost ~0.9 s and are dropped
        ex.disableAllImageTypes()
        for f in filters:
            ex.enableImageTypeByName(f)
        if by_class is not None:
            ex.disableAllFeatures()
            ex.enableFeaturesByName(**by_class)
        _EXTRACTORS[key] = ex
    return _EXTRACTORS[key]


def roi_mask(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    m = labels == 1
    if not m.any():
        m = labels > 0
    return m.astype(np.uint8)


def extract(ct: CTImage, labels: np.ndarray, filters: Iterable[str] = ("Original",),
            params: str | Path | None = None, features: Iterable[str] | None = None,
            cache: CTCache | None = None) -> dict[str, float]:
    """pyradiomics features of the IPH, as ``{pyradiomics name: float}``.

    ``features``: compute only these (and what their feature classes give with them); None = all.
    ``cache``: the CT's ``ct_cache`` entry; the mask-independent work is taken from and kept there.
    """

    m = roi_mask(labels)
    if np.count_nonzero(m) < 10:
        raise SegmentationError("hematoma ROI too small for radiomics (< 10 voxels)")
    ex = extractor(filters, params, features)
    if cache is None:
        res = ex.execute(ct.to_sitk(), sitk.Cast(ct.to_sitk(m), sitk.sitkUInt8), label=1)
    else:
        res = _execute_cached(ex, cache, ct, m)
    out: dict[str, float] = {}
    for k, v in res.items():
        if k.startswith("diagnostics_"):
            continue
        try:
            f = float(np.asarray(v).ravel()[0])
        except (TypeError, ValueError, IndexError):
            continue
        out[k] = f if np.isfinite(f) else 0.0
    return out


# --- the cached path: pyradiomics' execute() for a segment, with the resampled image cut from the cache ----
def _execute_cached(ex: Any, cache: CTCache, ct: CTImage, roi: np.ndarray) -> dict[str, Any]:
    from radiomics import featureextractor, imageoperations

    settings = ex.settings.copy()
    settings["label"] = 1
    image = cache.sitk_image(ct)
    # a byte mask: pyradiomics' getMask would cast it to UInt32, but only its grid, its bounding box and which
    # voxels equal the label reach the features (nearest-neighbour resampling keeps values), so the features
    # are the same (Testing/test_rescore_cache.py) without a 315 MB UInt32 copy of a 512×512×300 scan
    mask = ct.to_sitk(np.asarray(roi).astype(np.uint8, copy=False))
    plain = (settings.get("interpolator") is None or settings.get("resampledPixelSpacing") is None
             or settings.get("normalize") or settings.get("resegmentRange") is not None)
    if plain:  # parameters this path does not reproduce: pyradiomics as it is (still on the cached image)
        return ex.execute(image, mask, label=1)
    if featureextractor.geometryTolerance != settings.get("geometryTolerance"):
        ex._setTolerance()
    image_r, mask_r = _resample(cache, image, mask, settings)
    bounding_box, corrected = imageoperations.checkMask(image_r, mask_r, **settings)
    if corrected is not None:
        mask_r = corrected
    out: dict[str, Any] = dict(_shape_features(ex, image_r, mask_r, bounding_box, settings))
    for image_type, custom in ex.enabledImagetypes.items():
        args = {**settings, **custom}
        for filtered, type_name, kwargs in getattr(imageoperations, f"get{image_type}Image")(image_r, mask_r, **args):
            cropped, cropped_mask = imageoperations.cropToTumorMask(filtered, mask_r, bounding_box, padDistance=0)
            out.update(ex.computeFeatures(cropped, cropped_mask, type_name, **kwargs))
    return out


@dataclass
class _Region:
    """The CT resampled onto pyradiomics' grid over grid indices ``lo``..``hi`` (x, y, z; inclusive)."""
    lo: np.ndarray
    hi: np.ndarray
    image: sitk.Image


def _resample(cache: CTCache, image: sitk.Image, mask: sitk.Image, settings: dict) -> tuple[sitk.Image, sitk.Image]:
    """``imageoperations.resampleImage(image, mask, **settings)``: the grid computed as pyradiomics
    3.0.1 computes it, the mask resampled as it does, the image cut from the cached region."""
    from radiomics import imageoperations

    spacing = np.array(settings["resampledPixelSpacing"], dtype=float)
    interpolator = settings.get("interpolator", sitk.sitkBSpline)
    if isinstance(interpolator, str):
        interpolator = getattr(sitk, interpolator, sitk.sitkBSpline)
    pad = settings.get("padDistance", 5)
    mask_spacing = np.array(mask.GetSpacing())
    spacing = np.where(spacing == 0, mask_spacing, spacing)
    bb = imageoperations._checkROI(image, mask, **settings)
    spacing = np.where(bb[3:] != 1, spacing, mask_spacing)
    if np.allclose(np.array(image.GetSpacing()), spacing):  # no interpolation: nothing worth keeping
        return imageoperations.resampleImage(image, mask, **settings)
    ratio = mask_spacing / spacing
    lo = np.floor((bb[:3] - 0.5) * ratio - pad)
    hi = np.ceil((bb[:3] + bb[3:] - 0.5) * ratio + pad)
    top = np.ceil(np.array(mask.GetSize()) * ratio) - 1
    lo = np.where(lo < 0, 0, lo)
    hi = np.where(hi > top, top, hi)
    size = np.array(hi - lo + 1, dtype="int").tolist()
    origin_index = np.array(0.5 * (spacing - mask_spacing) / mask_spacing)

    rif = sitk.ResampleImageFilter()
    rif.SetOutputSpacing(spacing)
    rif.SetOutputDirection(np.array(mask.GetDirection()))
    rif.SetSize(size)
    rif.SetOutputOrigin(mask.TransformContinuousIndexToPhysicalPoint(origin_index + lo / ratio))
    rif.SetOutputPixelType(mask.GetPixelID())
    rif.SetInterpolator(sitk.sitkNearestNeighbor)
    mask_r = rif.Execute(mask)

    region = _region(cache, image, spacing, int(interpolator), origin_index, ratio, lo, hi, top)
    a = (lo - region.lo).astype(int)
    b = a + np.array(size)
    image_r = region.image[int(a[0]):int(b[0]), int(a[1]):int(b[1]), int(a[2]):int(b[2])]
    image_r.CopyInformation(mask_r)  # the grid pyradiomics gives both (cut origin differs by rounding only)
    return image_r, mask_r


def _region(cache: CTCache, image: sitk.Image, spacing: np.ndarray, interpolator: int, origin_index: np.ndarray,
            ratio: np.ndarray, lo: np.ndarray, hi: np.ndarray, top: np.ndarray) -> _Region:
    """The cached resampled region holding grid box ``lo``..``hi``; computed (grown, or new) when it does not."""
    key = ("radiomics-resampled", tuple(float(s) for s in spacing), interpolator, image.GetPixelID())
    have: _Region | None = cache.memo.get(key)
    if have is not None and (have.lo <= lo).all() and (hi <= have.hi).all():
        return have
    grow = np.ceil(REGION_MARGIN_MM / spacing)
    new_lo, new_hi = np.maximum(lo - grow, 0), np.minimum(hi + grow, top)
    if have is not None:  # grow the kept region: edits in different places do not recompute each other's
        new_lo, new_hi = np.minimum(new_lo, have.lo), np.maximum(new_hi, have.hi)
    first, last = origin_index + new_lo / ratio, origin_index + new_hi / ratio  # in input voxel indices
    n_in = np.array(image.GetSize())
    a = np.maximum(np.floor(first) - INPUT_MARGIN_VOXELS, 0).astype(int)
    b = np.minimum(np.ceil(last) + INPUT_MARGIN_VOXELS + 1, n_in).astype(int)
    source = image if (a == 0).all() and (b == n_in).all() else image[int(a[0]):int(b[0]), int(a[1]):int(b[1]),
                                                                      int(a[2]):int(b[2])]
    rif = sitk.ResampleImageFilter()
    rif.SetOutputSpacing(spacing)
    rif.SetOutputDirection(np.array(image.GetDirection()))
    rif.SetSize(np.array(new_hi - new_lo + 1, dtype="int").tolist())
    rif.SetOutputOrigin(image.TransformContinuousIndexToPhysicalPoint(origin_index + new_lo / ratio))
    rif.SetOutputPixelType(image.GetPixelID())
    rif.SetInterpolator(interpolator)
    region = _Region(new_lo, new_hi, rif.Execute(source))
    cache.memo[key] = region
    return region


def _shape_features(ex: Any, image: sitk.Image, mask: sitk.Image, bounding_box: Any, settings: dict) -> dict[str, Any]:
    """``ex.computeShape``; without the surface mesh when only principal-axis features are enabled."""
    from radiomics import imageoperations

    wanted = ex.enabledFeatures.get("shape")
    fast = (isinstance(wanted, (list, tuple)) and wanted and set(wanted) <= PRINCIPAL_AXES_FEATURES
            and "shape2D" not in ex.enabledFeatures and mask.GetDimension() == 3)
    if not fast:
        return ex.computeShape(image, mask, bounding_box, **settings)
    cropped, cropped_mask = imageoperations.cropToTumorMask(image, mask, bounding_box)
    shape = _principal_axes_shape_class()(cropped, cropped_mask, **settings)
    for name in wanted:
        shape.enableFeatureByName(name)
    return {f"original_shape_{k}": v for k, v in shape.execute().items()}


def _principal_axes_shape_class() -> type:
    """pyradiomics' ``RadiomicsShape`` without the surface mesh (marching cubes, max diameters):
    its initialisation line for line, less ``cShape.calculate_coefficients``. Only the
    ``PRINCIPAL_AXES_FEATURES`` may be enabled on it."""
    if _SHAPE_CLASS:
        return _SHAPE_CLASS[0]
    from radiomics.shape import RadiomicsShape

    class PrincipalAxesShape(RadiomicsShape):
        def _initSegmentBasedCalculation(self) -> None:  # noqa: N802 (pyradiomics' name)
            self.pixelSpacing = np.array(self.inputImage.GetSpacing()[::-1])
            cpif = sitk.ConstantPadImageFilter()
            cpif.SetPadLowerBound([1, 1, 1])
            cpif.SetPadUpperBound([1, 1, 1])
            self.inputMask = cpif.Execute(self.inputMask)
            self.maskArray = sitk.GetArrayFromImage(self.inputMask) == self.label
            self.labelledVoxelCoordinates = np.where(self.maskArray != 0)
            self.SurfaceArea = self.Volume = float("nan")
            self.diameters = (float("nan"),) * 4
            n = len(self.labelledVoxelCoordinates[0])
            coordinates = np.array(self.labelledVoxelCoordinates, dtype="int").transpose((1, 0))
            physical = coordinates * self.pixelSpacing[None, :]
            physical -= np.mean(physical, axis=0)
            physical /= np.sqrt(n)
            covariance = np.dot(physical.T.copy(), physical)
            self.eigenValues = np.linalg.eigvals(covariance)
            self.eigenValues[(self.eigenValues < 0) & (self.eigenValues > -1e-10)] = 0
            self.eigenValues.sort()

        def enableFeatureByName(self, featureName: str, enable: bool = True) -> None:  # noqa: N802, N803
            if enable and featureName not in PRINCIPAL_AXES_FEATURES:
                raise LookupError(f"{featureName} needs the surface mesh; use RadiomicsShape")
            super().enableFeatureByName(featureName, enable)

    _SHAPE_CLASS.append(PrincipalAxesShape)
    return PrincipalAxesShape
