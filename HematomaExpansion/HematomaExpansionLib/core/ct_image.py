"""`CTImage`: voxels in HU plus the exact geometry, carried through the whole pipeline.

Conventions (those of SimpleITK/ITK and DICOM):
- ``array`` is indexed ``[k, j, i]`` (slice, row, column), float32 HU.
- ``spacing`` and ``origin`` are in ``(x, y, z)`` = ``(i, j, k)`` order, mm, LPS patient space.
- ``direction`` is the 3x3 matrix whose columns are the i, j, k axis directions in LPS.
Slicer works in RAS; ``ijk_to_ras()`` gives the matrix a Slicer volume node needs.

Processing that needs axial slices works on ``to_canonical()`` (axes permuted/flipped so that
array[k] is an axial slice, i → patient left, j → posterior, k → superior) and maps the result
back with ``from_canonical_array()``, so every output keeps the input's exact grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import SimpleITK as sitk


@dataclass
class CTImage:
    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array, dtype=np.float32)
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)

    # --- geometry -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def voxel_volume_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0

    def ijk_to_lps(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = self.direction @ np.diag(self.spacing)
        m[:3, 3] = self.origin
        return m

    def ijk_to_ras(self) -> np.ndarray:
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.ijk_to_lps()

    @classmethod
    def from_ijk_to_ras(cls, array: np.ndarray, ijk_to_ras: np.ndarray, **kw: Any) -> "CTImage":
        lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(ijk_to_ras, dtype=float)
        m = lps[:3, :3]
        spacing = np.linalg.norm(m, axis=0)
        return cls(array, tuple(spacing), tuple(lps[:3, 3]), m / spacing, **kw)

    def same_geometry(self, other: "CTImage", tol: float = 1e-3) -> bool:
        return (
            self.shape == other.shape
            and np.allclose(self.spacing, other.spacing, atol=tol)
            and np.allclose(self.origin, other.origin, atol=tol * 10)
            and np.allclose(self.direction, other.direction, atol=tol)
        )

    def like(self, array: np.ndarray, dtype: Any = None) -> "CTImage":
        """A new image on this grid (used for masks and heatmaps)."""
        arr = np.asarray(array)
        if arr.shape != self.shape:
            raise ValueError(f"array shape {arr.shape} differs from image shape {self.shape}")
        img = CTImage(arr, self.spacing, self.origin, self.direction.copy(), self.source)
        if dtype is not None:
            img.array = arr.astype(dtype)
        return img

    # --- SimpleITK ------------------------------------------------------------------------
    @classmethod
    def from_sitk(cls, image: sitk.Image, source: str = "", metadata: dict | None = None) -> "CTImage":
        return cls(
            sitk.GetArrayFromImage(image).astype(np.float32),
            image.GetSpacing(),
            image.GetOrigin(),
            np.array(image.GetDirection()).reshape(3, 3),
            source,
            dict(metadata or {}),
        )

    def to_sitk(self, array: np.ndarray | None = None, pixel_type: Any = None) -> sitk.Image:
        arr = self.array if array is None else np.asarray(array)
        if pixel_type is not None:
            arr = arr.astype(pixel_type)
        image = sitk.GetImageFromArray(arr)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(tuple(self.direction.ravel()))
        return image

    # --- canonical axial orientation ------------------------------------------------------
    def canonical_transform(self) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]]:
        """Axis permutation and flips that bring the array to [S, P, L]-increasing order.

        Returns ``(perm, flips)`` over numpy axes: canonical = flip(transpose(array, perm), flips).
        Chooses, for each patient axis, the voxel axis most aligned with it (works with
        oblique and gantry-tilted scans; the grid itself is never resampled).
        """
        # numpy axis a corresponds to ITK axis 2 - a
        cols = [self.direction[:, 2 - a] for a in range(3)]  # LPS direction of numpy axis a
        # target numpy axis 0 -> S (LPS index 2), 1 -> P (1), 2 -> L (0)
        targets = (2, 1, 0)
        perm: list[int] = []
        used: set[int] = set()
        for t in targets:
            best = max((a for a in range(3) if a not in used), key=lambda a: abs(cols[a][t]))
            perm.append(best)
            used.add(best)
        flips = tuple(bool(cols[perm[n]][targets[n]] < 0) for n in range(3))
        return tuple(perm), flips  # type: ignore[return-value]

    def _canonical(self, array: np.ndarray | None) -> np.ndarray:
        perm, flips = self.canonical_transform()
        out = np.transpose(self.array if array is None else np.asarray(array), perm)
        for axis, f in enumerate(flips):
            if f:
                out = np.flip(out, axis)
        return out

    def canonical_view(self, array: np.ndarray | None = None, writable: bool = False) -> np.ndarray:
        """``to_canonical_array`` without the copy: a read-only view of ``array`` (default: the HU).
        Crop it first and copy only the part kept (a whole-scan copy is ~25 MB for a 512² CT).
        ``writable``: writes through the view land in ``array`` (fill a native-grid volume canonically)."""
        out = self._canonical(array).view()
        out.flags.writeable = writable
        return out

    def to_canonical_array(self, array: np.ndarray | None = None) -> np.ndarray:
        return np.ascontiguousarray(self._canonical(array))

    def from_canonical_array(self, canonical: np.ndarray) -> np.ndarray:
        perm, flips = self.canonical_transform()
        out = canonical
        for axis, f in enumerate(flips):
            if f:
                out = np.flip(out, axis)
        return np.ascontiguousarray(np.transpose(out, np.argsort(perm)))

    def canonical_spacing(self) -> tuple[float, float, float]:
        """Spacing of the canonical array in numpy order (slice, row, column), mm."""
        perm, _ = self.canonical_transform()
        itk_spacing = self.spacing
        return tuple(float(itk_spacing[2 - a]) for a in perm)  # type: ignore[return-value]

    def tilt_degrees(self) -> float:
        """Angle between the slice-stacking axis and the slice normal (gantry tilt), degrees."""
        d = self.direction
        normal = np.cross(d[:, 0], d[:, 1])
        n = np.linalg.norm(normal)
        if n == 0:
            return 90.0
        cosang = abs(float(np.dot(normal / n, d[:, 2] / np.linalg.norm(d[:, 2]))))
        return float(np.degrees(np.arccos(min(1.0, cosang))))
