"""2.5D CNN deep features and Grad-CAM.

Input (``stack_input``): on the canonical axial array ([S, P, L]), the slice of maximal IPH area
and its ±``K_SLICES`` neighbours, cropped to a ``CROP_MM`` × ``CROP_MM`` window centred on the
IPH centroid of that slice, windowed 0–100 HU → 0–1, plus the IPH mask of the central slice as
an extra channel, resized to ``INPUT_PX`` × ``INPUT_PX``. Slices beyond the scan are repeated
from the edge; pixels beyond it are air.

Network (``ResNet25D``): ResNet-style (stem + three residual stages, 16/32/64 channels, strides
1/2/2) → global average pooling → ``N_DEEP`` unit penultimate layer (ReLU) → one logit. It is
trained on expansion labels; the penultimate activations are the deep features
(``deep_00`` … ``deep_15``) fused with radiomics by the classifier.

Grad-CAM: gradients of the logit w.r.t. the last residual stage's output, channel weights =
their spatial mean, ReLU of the weighted sum, bilinearly upsampled to the crop window, written on
the input slices of the canonical volume, scaled to 0–1 and mapped back onto the CT's own grid
(``CTImage.from_canonical_array``): a float32 volume of exactly the CT's shape.

Weights are stored as a plain ``.npz`` of tensors (no pickle) and verified by sha256 like every
bundled file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

K_SLICES = 2
CROP_MM = 96.0
INPUT_PX = 64
N_DEEP = 16
HU_WINDOW = (0.0, 100.0)


def torch_module():
    """torch, imported on first use (heavy) and limited to 2 threads."""
    import torch

    if torch.get_num_threads() > 2:
        torch.set_num_threads(2)
    return torch


@contextmanager
def single_thread() -> Iterator[None]:
    """torch on one thread for the block. One 64² input through this small network takes a few ms
    on one core; on a busy machine a second OpenMP thread waits for its core at every operation
    (measured: 250 ms instead of 4 ms per forward pass with a training run on the other core)."""
    torch = torch_module()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- input -----------------------------------------------------------------------------------
def _canonical_iph(ct, labels) -> np.ndarray:
    lab_c = ct.canonical_view(np.asarray(labels))
    iph = lab_c == 1
    return iph if iph.any() else lab_c > 0


def stack_geometry(ct, labels, iph: np.ndarray | None = None) -> dict[str, Any]:
    iph = _canonical_iph(ct, labels) if iph is None else iph
    if not iph.any():
        raise ValueError("empty hematoma mask")
    area = iph.reshape(iph.shape[0], -1).sum(1)
    z0 = int(np.argmax(area))
    rr, cc = np.nonzero(iph[z0])
    sp = ct.canonical_spacing()
    n_r = max(8, int(round(CROP_MM / sp[1])))
    n_c = max(8, int(round(CROP_MM / sp[2])))
    r0 = int(round(rr.mean())) - n_r // 2
    c0 = int(round(cc.mean())) - n_c // 2
    return {"z0": z0, "r0": r0, "c0": c0, "n_r": n_r, "n_c": n_c, "shape": tuple(int(s) for s in iph.shape)}


def _crop2d(img: np.ndarray, r0: int, c0: int, n_r: int, n_c: int, fill: float) -> np.ndarray:
    out = np.full((n_r, n_c), fill, np.float32)
    R, C = img.shape
    rs, cs = max(0, r0), max(0, c0)
    re, ce = min(R, r0 + n_r), min(C, c0 + n_c)
    if re > rs and ce > cs:
        out[rs - r0: re - r0, cs - c0: ce - c0] = img[rs:re, cs:ce]
    return out


def stack_input(ct, labels) -> tuple[np.ndarray, dict[str, Any]]:
    """(channels, INPUT_PX, INPUT_PX) float32 input and the crop geometry for mapping back."""
    torch = torch_module()
    iph = _canonical_iph(ct, labels)
    g = stack_geometry(ct, labels, iph)
    hu = ct.canonical_view()  # only the 2K+1 input slices are read
    chans = []
    for dz in range(-K_SLICES, K_SLICES + 1):
        z = int(np.clip(g["z0"] + dz, 0, hu.shape[0] - 1))
        sl = _crop2d(hu[z], g["r0"], g["c0"], g["n_r"], g["n_c"], -1024.0)
        chans.append(np.clip((sl - HU_WINDOW[0]) / (HU_WINDOW[1] - HU_WINDOW[0]), 0, 1))
    chans.append(_crop2d(iph[g["z0"]].astype(np.float32), g["r0"], g["c0"], g["n_r"], g["n_c"], 0.0))
    x = torch.from_numpy(np.stack(chans)[None])
    x = torch.nn.functional.interpolate(x, size=(INPUT_PX, INPUT_PX), mode="bilinear", align_corners=False)
    return x[0].numpy().astype(np.float32), g


def map_to_ct_grid(ct, cam2d: np.ndarray, g: dict[str, Any]) -> np.ndarray:
    """A 2D map over the input window → float32 volume on the CT grid (0 outside the window/slices)."""
    torch = torch_module()
    t = torch.from_numpy(np.asarray(cam2d, np.float32)[None, None])
    up = torch.nn.functional.interpolate(t, size=(g["n_r"], g["n_c"]), mode="bilinear", align_corners=False)[0, 0].numpy()
    # filled through a canonical view of the CT-grid volume: no canonical copy beside it (315 MB each on a
    # 512×512×300 scan)
    native = np.zeros(ct.shape, np.float32)
    vol = ct.canonical_view(native, writable=True)
    assert vol.shape == tuple(g["shape"])
    S, R, C = g["shape"]
    r0, c0 = g["r0"], g["c0"]
    rs, cs = max(0, r0), max(0, c0)
    re, ce = min(R, r0 + g["n_r"]), min(C, c0 + g["n_c"])
    for dz in range(-K_SLICES, K_SLICES + 1):
        z = g["z0"] + dz
        if 0 <= z < S and re > rs and ce > cs:
            vol[z, rs:re, cs:ce] = np.maximum(vol[z, rs:re, cs:ce], up[rs - r0: re - r0, cs - c0: ce - c0])
    m = float(native.max())
    if m > 0:
        native /= m
    return native


# --- network ---------------------------------------------------------------------------------
def build_net(in_ch: int = 2 * K_SLICES + 2):
    torch = torch_module()
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.skip = None
            if stride != 1 or cin != cout:
                self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return torch.relu(y + (x if self.skip is None else self.skip(x)))

    class ResNet25D(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(in_ch, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
            self.layer1 = Block(16, 16, 1)
            self.layer2 = Block(16, 32, 2)
            self.layer3 = Block(32, 64, 2)  # last convolutional block: Grad-CAM target
            self.drop = nn.Dropout(0.3)
            self.fc1 = nn.Linear(64, N_DEEP)
            self.fc2 = nn.Linear(N_DEEP, 1)

        def forward(self, x, return_all: bool = False):
            a = self.layer3(self.layer2(self.layer1(self.stem(x))))
            pooled = a.mean(dim=(2, 3))
            deep = torch.relu(self.fc1(self.drop(pooled)))
            logit = self.fc2(deep).squeeze(1)
            if return_all:
                return logit, deep, a
            return logit

    return ResNet25D()


def net_to_npz(net, path: str | Path) -> None:
    np.savez(path, **{k: v.detach().cpu().numpy() for k, v in net.state_dict().items()})


def net_from_npz(path: str | Path):
    torch = torch_module()
    with np.load(path, allow_pickle=False) as z:
        state = {k: torch.from_numpy(np.array(z[k])) for k in z.files}
    in_ch = int(state["stem.0.weight"].shape[1])
    net = build_net(in_ch)
    net.load_state_dict(state)
    net.eval()
    return net


def deep_names() -> list[str]:
    return [f"deep_{i:02d}" for i in range(N_DEEP)]


class DeepFeatureExtractor:
    def __init__(self, net, config: dict[str, Any] | None = None):
        self.net = net
        self.config = dict(config or {})

    @classmethod
    def load(cls, path: str | Path, config: dict[str, Any] | None = None) -> "DeepFeatureExtractor":
        return cls(net_from_npz(path), config)

    def features_from_stack(self, x: np.ndarray) -> np.ndarray:
        torch = torch_module()
        with torch.no_grad():
            _, deep, _ = self.net(torch.from_numpy(x[None] if x.ndim == 3 else x), return_all=True)
        return deep.numpy()

    def features(self, ct, labels, gradcam: bool = True) -> tuple[dict[str, float], np.ndarray | None]:
        with single_thread():
            return self._features(ct, labels, gradcam)

    def _features(self, ct, labels, gradcam: bool) -> tuple[dict[str, float], np.ndarray | None]:
        torch = torch_module()
        x, g = stack_input(ct, labels)
        xt = torch.from_numpy(x[None]).requires_grad_(False)
        if not gradcam:
            with torch.no_grad():
                _, deep, _ = self.net(xt, return_all=True)
            return dict(zip(deep_names(), map(float, deep[0].numpy()))), None
        logit, deep, act = self.net(xt, return_all=True)
        act.retain_grad()
        logit.sum().backward()
        w = act.grad.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((w * act).sum(1))[0].detach().numpy()
        if cam.max() <= 0:  # nothing drives the logit up: fall back to the activation magnitude
            cam = act.abs().mean(1)[0].detach().numpy()
        cam = cam / cam.max() if cam.max() > 0 else cam
        vol = map_to_ct_grid(ct, cam, g)
        self.net.zero_grad(set_to_none=True)
        return dict(zip(deep_names(), map(float, deep[0].detach().numpy()))), vol
