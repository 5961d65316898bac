"""Bundled hemorrhage segmentation network: a compact 2.5D attention U-Net (IPH / IVH).

Input representation (``prepare_slices``), identical in training and inference:
- the CT's canonical axial array ([S, P, L], ``CTImage.to_canonical_array``: no 3D resampling,
  so gantry-tilted and oblique scans keep their own slices);
- each axial slice resized in-plane (bilinear) to ``NET_PIXEL_MM`` pixels, then cropped/padded
  to ``NET_SIZE``×``NET_SIZE`` around the head's centre;
- three HU planes per slice: the slice itself and the planes ``CONTEXT_MM`` above and below
  (linear interpolation between slices, so thin and thick scans give the same context);
- density calibration (``segmentation.calibration``) of a scan whose brain reads outside the trained range;
- HU windows computed inside the network (``architecture.Windowing``): blood window 0..100 HU on the three
  planes and a wide window −50..250 HU on the centre plane (bone/calcification stay visible).

Output: softmax over background / IPH / IVH per slice; probabilities are resized back to the
slice's exact in-plane size; a voxel is blood when P(IPH) + P(IVH) ≥ ``BLOOD_PROBABILITY_THRESHOLD``
and takes the more probable of IPH/IVH; the labels are mapped back with ``from_canonical_array``
— the mask is on the CT's exact grid (shape, spacing, origin, direction untouched).
The weights' manifest entry records the threshold tuned for them on train-split cases outside the
training set (``blood_threshold``; the model card gives the tuning table).

Post-processing: the density rules of ``segmentation.density_filter`` (``postprocess``), then
``segmentation.anatomy_filter``: ribbons hugging the inner table, the falx and sagittal sinus,
components without contrast to the brain around them, small calcifications, dense bands along the
tentorium and transverse sinuses, and the partial-volume border; then ``segmentation.compartments``:
IVH specks on a parenchymal clot become IPH.
No hole filling: the network labels hypodense pockets itself (blood in its training labels); filling
swallowed brain enclosed by irregular clots and tripled the core-minimum feature's error (model card).

Weights: ``models/segmentation/<file>`` in ``models/manifest.json`` with its sha256, loaded with
``torch.load(weights_only=True)``; a mismatch raises ``ModelError``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from ..anatomy.brain import brain_mask_canonical, parenchyma_median_hu
from ..core import model_registry
from ..core.ct_image import CTImage
from ..core.errors import ModelError
from ..core.hashing import sha256_file
from ..core.results import LABEL_IPH, LABEL_IVH
from .anatomy_filter import refine_with_anatomy
from .architecture import build_model
from .calibration import BRAIN_CALIBRATION_HU, calibration_shift_hu, parenchyma_noise_hu, read_weights_record, shift_soft_tissue, weights_calibration_hu
from .compartments import absorb_ivh_on_clot
from .density_filter import postprocess
from .slabs import slab_factor, to_slabs, to_slices

log = logging.getLogger(__name__)

MODEL_ID = "seg-attn-unet25d"
NET_PIXEL_MM = 1.0
NET_SIZE = 224
CONTEXT_MM = 3.0
AIR_HU = -1024.0

BLOOD_PROBABILITY_THRESHOLD = 0.5
# bumped whenever post-processing changes what a given network output becomes (cached masks key on it)
POSTPROCESS_VERSION = "post-11"

INFER_BATCH = 32


# --- network ----------------------------------------------------------------------------------
def _torch():
    import torch

    return torch


# --- input representation ------------------------------------------------------------------
@dataclass
class SliceGeometry:
    canonical_shape: tuple[int, int, int]
    resized_hw: tuple[int, int]
    offset: tuple[int, int]  # crop start (row, col) in the resized slice; may be negative (padding)


def _context_planes(hu: np.ndarray, slice_mm: float) -> np.ndarray:
    """[S, 3, H, W]: plane CONTEXT_MM below, the slice, CONTEXT_MM above (linear in z, clamped)."""
    s = hu.shape[0]
    d = CONTEXT_MM / max(slice_mm, 1e-3)
    out = np.empty((s, 3) + hu.shape[1:], np.float32)
    for c, sign in enumerate((-1.0, 0.0, 1.0)):
        if sign == 0:
            out[:, c] = hu
            continue
        pos = np.clip(np.arange(s) + sign * d, 0, s - 1)
        k0 = np.floor(pos).astype(int)
        k1 = np.minimum(k0 + 1, s - 1)
        w = (pos - k0).astype(np.float32)[:, None, None]
        out[:, c] = hu[k0] * (1 - w) + hu[k1] * w
    return out


def resize_planes(planes: np.ndarray, hw: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    torch = _torch()
    t = torch.from_numpy(np.ascontiguousarray(planes))
    with torch.no_grad():
        r = torch.nn.functional.interpolate(t, size=hw, mode=mode, align_corners=False) if mode != "nearest" \
            else torch.nn.functional.interpolate(t, size=hw, mode="nearest")
    return r.numpy()


def prepare_slices(hu_canonical: np.ndarray, spacing_canonical, labels_canonical: np.ndarray | None = None):
    """Network input for every axial slice: ``(planes [S,3,N,N] float32 HU, geometry, labels [S,N,N])``."""
    hu = np.asarray(hu_canonical, np.float32)
    hu = np.maximum(hu, AIR_HU)
    sz, sy, sx = spacing_canonical
    s, h, w = hu.shape
    rh, rw = max(1, int(round(h * sy / NET_PIXEL_MM))), max(1, int(round(w * sx / NET_PIXEL_MM)))
    # resize, then take the context planes: both are linear, so the order changes only float rounding,
    # and the z blend then runs on the 1 mm grid (2.2 s → 0.1 s and a third of the resizing on a
    # 512×512×300 scan)
    planes = _context_planes(resize_planes(hu[:, None], (rh, rw))[:, 0], sz)
    lab = None
    if labels_canonical is not None:
        onehot = np.stack([(labels_canonical == k) for k in (0, LABEL_IPH, LABEL_IVH)], 1).astype(np.float32)
        onehot = resize_planes(onehot, (rh, rw))
        lab = np.argmax(onehot, 1).astype(np.uint8)
    # centre on the head (tissue above −300 HU) across the volume
    head = planes[:, 1] > -300
    if head.any():
        rows = np.nonzero(head.any(axis=(0, 2)))[0]
        cols = np.nonzero(head.any(axis=(0, 1)))[0]
        cr, cc = (rows[0] + rows[-1]) / 2.0, (cols[0] + cols[-1]) / 2.0
    else:
        cr, cc = rh / 2.0, rw / 2.0
    r0, c0 = int(round(cr - NET_SIZE / 2)), int(round(cc - NET_SIZE / 2))
    out = np.full((s, 3, NET_SIZE, NET_SIZE), AIR_HU, np.float32)
    out_lab = np.zeros((s, NET_SIZE, NET_SIZE), np.uint8) if lab is not None else None
    src_r = slice(max(0, r0), min(rh, r0 + NET_SIZE))
    src_c = slice(max(0, c0), min(rw, c0 + NET_SIZE))
    dst_r = slice(src_r.start - r0, src_r.stop - r0)
    dst_c = slice(src_c.start - c0, src_c.stop - c0)
    out[:, :, dst_r, dst_c] = planes[:, :, src_r, src_c]
    if lab is not None:
        out_lab[:, dst_r, dst_c] = lab[:, src_r, src_c]
    return out, SliceGeometry((s, h, w), (rh, rw), (r0, c0)), out_lab


def probabilities_to_canonical(prob: np.ndarray, geom: SliceGeometry, background_channel: bool = True) -> np.ndarray:
    """[S,C,N,N] network-grid maps → [S,C,H,W] on the canonical grid (bilinear).

    Outside the network's crop: channel 0 = 1 (background) when ``background_channel``, else 0.
    """
    s, h, w = geom.canonical_shape
    rh, rw = geom.resized_hw
    r0, c0 = geom.offset
    full = np.zeros((s, prob.shape[1], rh, rw), np.float32)
    if background_channel:
        full[:, 0] = 1.0
    src_r = slice(max(0, r0), min(rh, r0 + NET_SIZE))
    src_c = slice(max(0, c0), min(rw, c0 + NET_SIZE))
    dst_r = slice(src_r.start - r0, src_r.stop - r0)
    dst_c = slice(src_c.start - c0, src_c.stop - c0)
    full[:, :, src_r, src_c] = prob[:, :, dst_r, dst_c]
    return resize_planes(full, (h, w))


# --- weights ------------------------------------------------------------------------------
def manifest_entry() -> tuple[Path, dict] | None:
    """(weights path, manifest entry) of the bundled segmentation network, or None when not installed."""
    return model_registry.model_entry(MODEL_ID)


def blood_threshold() -> float:
    """The installed weights' operating point: their manifest's ``blood_probability_threshold``,
    else ``BLOOD_PROBABILITY_THRESHOLD`` (the threshold belongs to the weights it was tuned for)."""
    found = manifest_entry()
    value = found[1].get("blood_probability_threshold") if found else None
    return float(value) if value is not None else BLOOD_PROBABILITY_THRESHOLD


def model_description() -> str:
    """What produced a network mask, for result files: model id, version, post-processing and the blood
    threshold (a resumed batch or a feature cache made under other post-processing does not match)."""
    found = manifest_entry()
    version = found[1].get("version", "?") if found else "?"
    return f"{MODEL_ID} {version} {POSTPROCESS_VERSION}, P(blood) >= {blood_threshold()}"


def weights_available() -> bool:
    try:
        found = manifest_entry()
    except ModelError:
        return False
    return found is not None and found[0].exists()


def load_model(path: str | Path | None = None, expected_sha256: str | None = None):
    """The network with its weights, in eval mode. Verifies the sha256 against the manifest. The weights'
    trained density range (manifest entry, else ``train-seg``'s record beside them) is its
    ``brain_calibration_hu``."""
    if path is None:
        found = manifest_entry()
        if found is None:
            raise ModelError(f"no segmentation model {MODEL_ID!r} in {model_registry.manifest_path()}")
        path, record = found
        expected_sha256 = record.get("sha256")
    else:
        record = read_weights_record(path)
    arch = (record or {}).get("architecture", {})
    model = _load_cached(str(path), expected_sha256, int(arch.get("base", 8)), int(arch.get("levels", 5)))
    try:
        model.brain_calibration_hu = weights_calibration_hu(record)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"segmentation weights {path}: bad brain_calibration_hu in their record: {exc}") from exc
    return model


@functools.lru_cache(maxsize=2)
def _load_cached(path: str, expected_sha256: str | None, base: int, levels: int):
    torch = _torch()
    p = Path(path)
    if not p.exists():
        raise ModelError(f"segmentation weights missing: {p}")
    if expected_sha256:
        actual = sha256_file(p)
        if actual != expected_sha256:
            raise ModelError(
                f"segmentation weights {p} are corrupt or were replaced: sha256 {actual[:12]}… "
                f"does not match the manifest's {expected_sha256[:12]}…")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem is a model problem
        raise ModelError(f"cannot load segmentation weights {p}: {exc}") from exc
    model = build_model(base=base, levels=levels)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as exc:
        raise ModelError(f"segmentation weights {p} do not fit the network: {exc}") from exc
    model.eval()
    # channels-last: oneDNN's convolutions run about twice as fast on CPU in that layout
    return fuse_batchnorm(model).to(memory_format=torch.channels_last)


def clear_model_cache() -> None:
    """Forget loaded weights (after new weights were installed in the models folder)."""
    _load_cached.cache_clear()


def fuse_batchnorm(model):
    """Fold every eval-mode BatchNorm into the preceding convolution (same outputs, faster)."""
    torch = _torch()
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for mod in model.modules():
        if isinstance(mod, torch.nn.Sequential):
            layers = list(mod)
            for i in range(len(layers) - 1):
                if isinstance(layers[i], torch.nn.Conv2d) and isinstance(layers[i + 1], torch.nn.BatchNorm2d):
                    mod[i] = fuse_conv_bn_eval(layers[i], layers[i + 1])
                    mod[i + 1] = torch.nn.Identity()
    return model


# --- inference ----------------------------------------------------------------------------
def predict_probabilities(model, planes: np.ndarray, threads: int | None = 2, flip_tta: bool = False) -> np.ndarray:
    torch = _torch()
    if threads:
        torch.set_num_threads(min(threads, torch.get_num_threads()) or 1)
    out = np.zeros((planes.shape[0], 3) + planes.shape[2:], np.float32)
    out[:, 0] = 1.0
    head = planes[:, 1] > -300
    has_head = head.reshape(planes.shape[0], -1).mean(1) > 0.01
    idx = np.nonzero(has_head)[0]
    if len(idx) == 0:
        return out
    # run only on the head's bounding box (fully convolutional), padded to a multiple of 16
    n = planes.shape[-1]
    rows = np.nonzero(head[idx].any(axis=(0, 2)))[0]
    cols = np.nonzero(head[idx].any(axis=(0, 1)))[0]
    win = []
    for lo, hi in ((rows[0], rows[-1] + 1), (cols[0], cols[-1] + 1)):
        size = min(n, int(np.ceil((hi - lo + 8) / 16.0)) * 16)
        start = int(np.clip((lo + hi) // 2 - size // 2, 0, n - size))
        win.append(slice(start, start + size))
    rs, cs = win
    with torch.inference_mode():
        for b in range(0, len(idx), INFER_BATCH):
            sel = idx[b: b + INFER_BATCH]
            x = torch.from_numpy(np.ascontiguousarray(planes[sel][:, :, rs, cs])).contiguous(memory_format=torch.channels_last)
            logits = model(x)
            if flip_tta:  # left-right test-time augmentation (doubles the time)
                logits = 0.5 * (logits + torch.flip(model(torch.flip(x, dims=[3])), dims=[3]))
            out[sel, :, rs, cs] = torch.softmax(logits, 1).numpy()
    return out


def probabilities_to_labels(prob: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """[S,3,H,W] background/IPH/IVH probabilities → uint8 labels (blood if P(IPH)+P(IVH) ≥ threshold,
    default: the installed weights' ``blood_threshold()``)."""
    threshold = blood_threshold() if threshold is None else threshold
    blood = (1.0 - prob[:, 0]) >= threshold
    kind = np.where(prob[:, 2] > prob[:, 1], LABEL_IVH, LABEL_IPH).astype(np.uint8)
    return np.where(blood, kind, 0).astype(np.uint8)


def segment_net_canonical(hu: np.ndarray, spacing, model=None, post: bool = True,
                          report: dict | None = None) -> np.ndarray:
    """Labels on the canonical grid; thin slices are inferred on ``slabs.SLAB_MM`` slabs and mapped back.
    ``report`` (optional) receives the network input's calibration (``_input_calibration``)."""
    model = model if model is not None else load_model()
    n = slab_factor(spacing[0])
    planes, geom, _ = prepare_slices(to_slabs(hu, n), (spacing[0] * n,) + tuple(spacing[1:]))
    # intracranial mask on the (cheaper) 1 mm network grid of the slabs: calibration, and mapped back for
    # post-processing
    bounds = getattr(model, "brain_calibration_hu", BRAIN_CALIBRATION_HU)
    brain_net, calibration = _input_calibration(planes, geom, spacing[0] * n, bounds)
    shift = calibration["density_shift_hu"]
    if report is not None:
        report.update(calibration)
    if shift:
        log.info("parenchyma outside the trained density range: soft tissue shifted %+.1f HU for segmentation", shift)
        shift_soft_tissue(planes, shift)
    prob = predict_probabilities(model, planes)
    labels = _labels_on_slices(prob, geom, hu.shape[0], n)
    if post and labels.any():
        brain_net = ndi.binary_dilation(brain_net, iterations=2).astype(np.float32)[:, None]
        brain = _labels_on_slices(brain_net, geom, hu.shape[0], n, background_channel=False) > 0
        del planes, prob
        labels = postprocess(labels, hu, spacing, brain)
        labels = refine_with_anatomy(labels, hu, spacing, brain)
        labels = absorb_ivh_on_clot(labels, spacing)
    return labels


def _input_calibration(planes: np.ndarray, geom: SliceGeometry, slice_mm: float,
                       bounds: tuple[float, float]) -> tuple[np.ndarray, dict]:
    """(intracranial mask on the network grid, ``{"parenchyma_hu", "density_shift_hu", "calibration_range_hu", "noise_hu"}``)."""
    brain = net_grid_brain(planes, geom, slice_mm)
    parenchyma = parenchyma_median_hu(planes[:, 1], brain) if brain.any() else None
    noise = parenchyma_noise_hu(planes[:, 1], brain, parenchyma)
    return brain, {"parenchyma_hu": None if parenchyma is None else round(parenchyma, 1),
                   "density_shift_hu": calibration_shift_hu(parenchyma, bounds), "calibration_range_hu": list(bounds),
                   "noise_hu": None if noise is None else round(noise, 2)}


def density_calibration(ct: CTImage) -> dict:
    """The calibration ``segment_net`` gives ``ct``'s network input with the bundled weights, without running it."""
    hu, sp = ct.to_canonical_array(), ct.canonical_spacing()
    n = slab_factor(sp[0])
    planes, geom, _ = prepare_slices(to_slabs(hu, n), (sp[0] * n,) + tuple(sp[1:]))
    found = manifest_entry()
    return _input_calibration(planes, geom, sp[0] * n, weights_calibration_hu(found[1] if found else None))[1]


def net_grid_brain(planes: np.ndarray, geom: SliceGeometry, slice_mm: float) -> np.ndarray:
    """Intracranial mask on the network grid, measured on the scan's own pixels only: a field of view
    under ``NET_SIZE`` mm is padded with air there, and that padding would hide a skull-stripped
    scan's 0 HU fill from ``fill_background`` (it looks for it on the image's edges)."""
    r0, c0 = geom.offset
    rows = slice(max(0, -r0), min(NET_SIZE, geom.resized_hw[0] - r0))
    cols = slice(max(0, -c0), min(NET_SIZE, geom.resized_hw[1] - c0))
    brain = np.zeros(planes[:, 1].shape, bool)
    brain[:, rows, cols] = brain_mask_canonical(planes[:, 1, rows, cols], (slice_mm, NET_PIXEL_MM, NET_PIXEL_MM), fast=True)
    return brain


def _labels_on_slices(maps: np.ndarray, geom: SliceGeometry, n_slices: int, n: int, background_channel: bool = True,
                      chunk: int = 16) -> np.ndarray:
    """Network-grid maps of the slabs → uint8 on every canonical slice, a few slices at a time (memory:
    a full-resolution float map of a 512×512×300 scan would take ~1 GB). Probabilities give labels;
    a one-channel mask (``background_channel`` False) gives 0/1 at 0.5."""
    s, h, w = n_slices, geom.canonical_shape[1], geom.canonical_shape[2]
    out = np.zeros((s, h, w), np.uint8)
    for k0 in range(0, s, chunk):
        k1 = min(s, k0 + chunk)
        g = SliceGeometry((k1 - k0, h, w), geom.resized_hw, geom.offset)
        full = probabilities_to_canonical(to_slices(maps, s, n, slice(k0, k1)), g, background_channel=background_channel)
        out[k0:k1] = probabilities_to_labels(full) if background_channel else (full[:, 0] >= 0.5)
    return out


def segment_net(ct: CTImage, model=None) -> np.ndarray:
    """uint8 labels (0, LABEL_IPH, LABEL_IVH) on ``ct``'s exact grid; the density calibration of its input
    is kept in ``ct.metadata["density_calibration"]`` (``segment_net_canonical``'s report)."""
    hu = ct.canonical_view()  # read-only; a canonical copy of a 512×512×300 scan would cost 315 MB and 0.5 s
    report: dict = {}
    labels = segment_net_canonical(hu, ct.canonical_spacing(), model=model, report=report)
    ct.metadata["density_calibration"] = report
    out = ct.from_canonical_array(labels)
    assert out.shape == ct.shape
    return out.astype(np.uint8, copy=False)
