"""Metrics and the evaluation report (JSON + self-contained HTML with embedded PNG plots).

Metrics for a vector of probabilities against binary labels: ROC AUC with a stratified bootstrap
95 % CI (``n_boot`` resamples, percentile method), average precision (AP), precision / recall /
F1 / specificity / accuracy and the confusion matrix at the chosen threshold, Brier score,
calibration curve (quantile bins), calibration slope and intercept (logistic recalibration:
logit(y) ~ a + b·logit(p); ideal a = 0, b = 1), and the decision curve (net benefit of the model
vs treat-all and treat-none over threshold probabilities 1–60 %).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
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
    from sklearn.metrics import average_precision_score, roc_curve, precision_recall_curve

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


# --- report ----------------------------------------------------------------------------------
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(results: dict[str, dict[str, Any]]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    imgs = {}
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for name, r in results.items():
        if "roc_curve" in r:
            ax.plot(r["roc_curve"]["fpr"], r["roc_curve"]["tpr"], label=f"{name} (AUC {r['auc']:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", title="ROC")
    ax.legend(fontsize=7, loc="lower right")
    imgs["roc"] = _png(fig)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for name, r in results.items():
        if "pr_curve" in r:
            ax.plot(r["pr_curve"]["recall"], r["pr_curve"]["precision"], label=f"{name} (AP {r['average_precision']:.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision–recall")
    ax.legend(fontsize=7, loc="lower left")
    imgs["pr"] = _png(fig)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for name, r in results.items():
        if "calibration_curve" in r:
            c = r["calibration_curve"]
            ax.plot(c["mean_predicted"], c["observed"], "o-", ms=3,
                    label=f"{name} (slope {r['calibration_slope']:.2f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title="Calibration", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7, loc="upper left")
    imgs["calibration"] = _png(fig)
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    first = True
    for name, r in results.items():
        if "decision_curve" in r:
            d = r["decision_curve"]
            ax.plot(d["threshold"], d["model"], label=name)
            if first:
                ax.plot(d["threshold"], d["treat_all"], "k--", lw=0.8, label="treat all")
                ax.plot(d["threshold"], d["treat_none"], "k:", lw=0.8, label="treat none")
                prev = r["prevalence"]
                first = False
    if not first:
        ax.set_ylim(-0.05, max(0.05, prev * 1.1))
    ax.set(xlabel="threshold probability", ylabel="net benefit", title="Decision curve")
    ax.legend(fontsize=7)
    imgs["decision"] = _png(fig)
    return imgs


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "—" if math.isnan(v) else f"{v:.3f}"
    return html.escape(str(v))


def write_report(out_dir: str | Path, title: str, results: dict[str, dict[str, Any]], meta: dict[str, Any],
                 primary: str) -> tuple[Path, Path]:
    """``results``: {name: evaluate_scores(...)}; ``primary``: the model's name. Writes report.json + report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / "report.json"
    jpath.write_text(json.dumps({"title": title, "meta": meta, "primary": primary, "results": results}, indent=1,
                                default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o)))
    imgs = _plots(results)
    rows = []
    for name, r in results.items():
        t = r.get("at_threshold", {})
        cm = t.get("confusion_matrix", {})
        ci = r.get("auc_ci95", [float("nan")] * 2)
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{_fmt(r['auc'])} ({_fmt(ci[0])}–{_fmt(ci[1])})</td>"
            f"<td>{_fmt(r.get('average_precision', float('nan')))}</td><td>{_fmt(r.get('brier', float('nan')))}</td>"
            f"<td>{_fmt(r.get('calibration_slope', float('nan')))}</td><td>{_fmt(r.get('calibration_intercept', float('nan')))}</td>"
            f"<td>{_fmt(t.get('threshold', float('nan')))}</td><td>{_fmt(t.get('precision', float('nan')))}</td>"
            f"<td>{_fmt(t.get('recall', float('nan')))}</td><td>{_fmt(t.get('f1', float('nan')))}</td>"
            f"<td>{cm.get('tp', '')}/{cm.get('fp', '')}/{cm.get('fn', '')}/{cm.get('tn', '')}</td></tr>"
        )
    p = results[primary]
    cm = p.get("at_threshold", {}).get("confusion_matrix", {})
    meta_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>"
                        for k, v in meta.items())
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 7px;font-size:13px;text-align:left}}img{{margin:4px}}
.warn{{background:#fff3cd;padding:8px;border:1px solid #e0c060}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="warn">Research software. Figures below come from the cohort named in the table; a model trained on the
simulated cohort is <b>not clinically validated</b>.</p>
<table>{meta_rows}</table>
<h2>Discrimination, calibration and operating point</h2>
<table><tr><th>model</th><th>AUC (95% CI, bootstrap)</th><th>AP</th><th>Brier</th><th>cal. slope</th><th>cal. intercept</th>
<th>threshold</th><th>precision</th><th>recall</th><th>F1</th><th>TP/FP/FN/TN</th></tr>{''.join(rows)}</table>
<h3>Confusion matrix ({html.escape(primary)}, threshold {_fmt(p.get('at_threshold', {}).get('threshold', float('nan')))})</h3>
<table><tr><th></th><th>predicted HE</th><th>predicted no HE</th></tr>
<tr><th>HE</th><td>{cm.get('tp', '')}</td><td>{cm.get('fn', '')}</td></tr>
<tr><th>no HE</th><td>{cm.get('fp', '')}</td><td>{cm.get('tn', '')}</td></tr></table>
<div><img src="data:image/png;base64,{imgs['roc']}" alt="ROC"><img src="data:image/png;base64,{imgs['pr']}" alt="PR"></div>
<div><img src="data:image/png;base64,{imgs['calibration']}" alt="calibration"><img src="data:image/png;base64,{imgs['decision']}" alt="decision curve"></div>
</body></html>"""
    hpath = out / "report.html"
    hpath.write_text(body)
    return jpath, hpath
