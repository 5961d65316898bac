"""Metrics of predicted probabilities against binary labels (the report is ``outputs.metrics_report``).

Metrics for a vector of probabilities against binary labels: ROC AUC with a stratified bootstrap
95 % CI (``n_boot`` resamples, percentile method), average precision (AP), precision / recall /
F1 / specificity / accuracy and the confusion matrix at the chosen threshold, Brier score,
calibration curve (quantile bins), calibration slope and intercept (logistic recalibration:
logit(y) ~ a + b·logit(p); ideal a = 0, b = 1), and the decision curve (net benefit of the model
vs treat-all and treat-none over threshold probabilities 1–60 %).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y).astype(int)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, s))


def bootstrap_auc_ci(y, s, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    y = np.asarray(y).astype(int)
    s = np.asarray(s, float)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan"), float("nan")
    vals = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        vals.append(auc(y[idx], s[idx]))
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def calibration_slope_intercept(y, p) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y).astype(int)
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan")
    lp = _logit(p).reshape(-1, 1)
    lr = LogisticRegression(C=1e6, max_iter=5000).fit(lp, y)
    slope = float(lr.coef_[0, 0])
    # calibration-in-the-large: intercept with the slope fixed at 1 (offset logistic regression)
    a = 0.0
    off = lp.ravel()
    for _ in range(50):
        q = 1 / (1 + np.exp(-(a + off)))
        g = float(np.sum(y - q))
        h = float(np.sum(q * (1 - q)))
        if h <= 0:
            break
        step = g / h
        a += step
        if abs(step) < 1e-10:
            break
    return slope, float(a)


def calibration_curve(y, p, n_bins: int = 8) -> dict[str, list[float]]:
    y = np.asarray(y).astype(int)
    p = np.asarray(p, float)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    if len(edges) < 2:
        return {"mean_predicted": [float(p.mean())], "observed": [float(y.mean())], "count": [int(len(y))]}
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
    mp, ob, cnt = [], [], []
    for b in range(len(edges) - 1):
        m = idx == b
        if m.any():
            mp.append(float(p[m].mean()))
            ob.append(float(y[m].mean()))
            cnt.append(int(m.sum()))
    return {"mean_predicted": mp, "observed": ob, "count": cnt}


def decision_curve(y, p, thresholds=None) -> dict[str, list[float]]:
    y = np.asarray(y).astype(int)
    p = np.asarray(p, float)
    n = len(y)
    prev = y.mean() if n else 0.0
    th = np.round(np.arange(0.01, 0.61, 0.01), 2) if thresholds is None else np.asarray(thresholds)
    model, all_ = [], []
    for t in th:
        pred = p >= t
        tp = np.sum(pred & (y == 1)) / n
        fp = np.sum(pred & (y == 0)) / n
        w = t / (1 - t)
        model.append(float(tp - fp * w))
        all_.append(float(prev - (1 - prev) * w))
    return {"threshold": [float(t) for t in th], "model": model, "treat_all": all_, "treat_none": [0.0] * len(th)}


def threshold_metrics(y, p, threshold: float) -> dict[str, Any]:
    y = np.asarray(y).astype(int)
    pred = np.asarray(p, float) >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    spec = tn / (tn + fp) if tn + fp else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"threshold": float(threshold), "precision": prec, "recall": rec, "specificity": spec, "f1": f1,
            "accuracy": (tp + tn) / max(1, len(y)),
            "confusion_matrix": {"tp": tp, "fp": fp, "fn": fn, "tn": tn}}


def evaluate_scores(y, p, threshold: float = 0.5, n_boot: int = 1000, seed: int = 0,
                    is_probability: bool = True) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

    y = np.asarray(y).astype(int)
    p = np.asarray(p, float)
    out: dict[str, Any] = {"n": int(len(y)), "n_positive": int(y.sum()), "prevalence": float(y.mean()) if len(y) else float("nan")}
    out["auc"] = auc(y, p)
    out["auc_ci95"] = list(bootstrap_auc_ci(y, p, n_boot, seed))
    out["average_precision"] = float(average_precision_score(y, p)) if len(np.unique(y)) > 1 else float("nan")
    if len(np.unique(y)) > 1:
        fpr, tpr, _ = roc_curve(y, p)
        prec, rec, _ = precision_recall_curve(y, p)
        out["roc_curve"] = {"fpr": fpr.round(4).tolist(), "tpr": tpr.round(4).tolist()}
        out["pr_curve"] = {"precision": prec.round(4).tolist(), "recall": rec.round(4).tolist()}
    if is_probability:
        out["brier"] = float(np.mean((p - y) ** 2))
        slope, intercept = calibration_slope_intercept(y, p)
        out["calibration_slope"] = slope
        out["calibration_intercept"] = intercept
        out["calibration_curve"] = calibration_curve(y, p)
        out["decision_curve"] = decision_curve(y, p)
        out["at_threshold"] = threshold_metrics(y, p, threshold)
    return out
