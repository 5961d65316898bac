"""Training the 2.5D CNN of the deep features: out-of-fold deep features and the final network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..core import config
from ..core.hashing import sha256_file
from ..features.deep import (
    CROP_MM,
    INPUT_PX,
    K_SLICES,
    N_DEEP,
    DeepFeatureExtractor,
    build_net,
    deep_names,
    net_to_npz,
    stack_input,
    torch_module,
)
from .cv import patient_folds
from .feature_cache import feature_cache_key, load_case


def train_net(X: np.ndarray, y: np.ndarray, epochs: int = 30, seed: int = 0, lr: float = 2e-3, progress: bool = False):
    """Train on stacks X (n, C, H, W) with labels y; light augmentation (LR flip, shift, HU jitter)."""
    torch = torch_module()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_net(X.shape[1])
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
    pos = max(1.0, float(y.sum()))
    lossf = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(y) - pos) / pos))
    Xt = torch.from_numpy(X.astype(np.float32))
    yt = torch.from_numpy(y.astype(np.float32))
    for _ in tqdm(range(epochs), desc="CNN epochs", disable=not progress, leave=False):
        net.train()
        order = rng.permutation(len(y))
        for b in range(0, len(order), 32):
            idx = order[b: b + 32]
            xb = Xt[idx].clone()
            if rng.random() < 0.5:
                xb = torch.flip(xb, dims=[3])
            sh = rng.integers(-4, 5, 2)
            xb = torch.roll(xb, shifts=(int(sh[0]), int(sh[1])), dims=(2, 3))
            xb[:, :-1] = torch.clamp(xb[:, :-1] + float(rng.normal(0, 0.02)), 0, 1)
            opt.zero_grad()
            loss = lossf(net(xb), yt[idx])
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    return net


def case_stacks(cases, progress: bool = True) -> np.ndarray:
    """Input stacks of every case, cached per case (keyed like the feature cache)."""
    cdir = config.cache_dir() / "stacks"
    cdir.mkdir(parents=True, exist_ok=True)
    out = []
    for c in tqdm(cases, desc="CNN inputs", disable=not progress):
        key = feature_cache_key(c, ("stack", K_SLICES, CROP_MM, INPUT_PX))
        p = cdir / f"{key}.npy"
        if p.exists():
            out.append(np.load(p, allow_pickle=False))
            continue
        ct, labels = load_case(c)
        x, _ = stack_input(ct, labels)
        np.save(p, x.astype(np.float16))
        out.append(x.astype(np.float16))
    return np.stack(out).astype(np.float32)


def _with_deep(feats, deep: np.ndarray) -> list[dict[str, float]]:
    return [dict(f, **dict(zip(deep_names(), map(float, d)))) for f, d in zip(feats, deep)]


def add_oof_deep_features(cases, feats, y, epochs: int = 30, seed: int = 0, folds: int = 4, progress: bool = True,
                          eval_cases=None, eval_feats=None):
    """Deep features for training without label leakage: each case's features come from a CNN trained on
    the other folds (patient-level); the bundled CNN is then trained on all cases. ``eval_cases`` /
    ``eval_feats``: the same cases seen another way (the segmenter's masks); their deep features come from
    the same out-of-fold CNNs (returned as ``info["eval_feats"]``)."""
    X = case_stacks(cases, progress)
    X_eval = None if eval_cases is None else case_stacks(eval_cases, progress)
    deep = np.zeros((len(y), N_DEEP), np.float32)
    deep_eval = np.zeros_like(deep)
    for tr, te in patient_folds([c.patient_id for c in cases], y, folds, seed + 11):
        extractor = DeepFeatureExtractor(train_net(X[tr], y[tr], epochs, seed, progress=progress))
        deep[te] = extractor.features_from_stack(X[te])
        if X_eval is not None:
            deep_eval[te] = extractor.features_from_stack(X_eval[te])
    full = train_net(X, y, epochs, seed, progress=progress)
    new_feats = _with_deep(feats, deep)

    def model_entry(models_dir: Path, model_id: str) -> dict[str, Any]:
        rel = f"expansion/{model_id}-cnn.npz"
        path = Path(models_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        net_to_npz(full, path)
        return {"file": rel, "sha256": sha256_file(path),
                "config": {"k_slices": K_SLICES, "crop_mm": CROP_MM, "input_px": INPUT_PX, "n_deep": N_DEEP,
                           "epochs": epochs, "seed": seed, "oof_folds": folds}}

    return new_feats, {"model_entry": model_entry,
                       "eval_feats": None if eval_feats is None else _with_deep(eval_feats, deep_eval)}
