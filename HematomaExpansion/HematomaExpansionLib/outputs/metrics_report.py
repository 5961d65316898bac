"""The evaluation report: ``report.json`` and a self-contained ``report.html`` with embedded plots
(ROC, precision-recall, calibration, decision curve) of ``training.metrics.evaluate_scores`` results."""

from __future__ import annotations

import csv
import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .figures import png_base64, pyplot


def _curve_plot(results: dict[str, dict[str, Any]], key: str, x: str, y: str, label, **style):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for name, r in results.items():
        if key in r:
            ax.plot(r[key][x], r[key][y], label=label(name, r), **style)
    return fig, ax


def _plots(results: dict[str, dict[str, Any]]) -> dict[str, str]:
    imgs = {}
    fig, ax = _curve_plot(results, "roc_curve", "fpr", "tpr", lambda n, r: f"{n} (AUC {r['auc']:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", title="ROC")
    ax.legend(fontsize=7, loc="lower right")
    imgs["roc"] = png_base64(fig, dpi=90, tight=True)
    fig, ax = _curve_plot(results, "pr_curve", "recall", "precision", lambda n, r: f"{n} (AP {r['average_precision']:.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision–recall")
    ax.legend(fontsize=7, loc="lower left")
    imgs["pr"] = png_base64(fig, dpi=90, tight=True)
    fig, ax = _curve_plot(results, "calibration_curve", "mean_predicted", "observed",
                          lambda n, r: f"{n} (slope {r['calibration_slope']:.2f})", marker="o", ms=3)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="predicted probability", ylabel="observed frequency", title="Calibration", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7, loc="upper left")
    imgs["calibration"] = png_base64(fig, dpi=90, tight=True)
    fig, ax = _curve_plot(results, "decision_curve", "threshold", "model", lambda n, r: n)
    curves = [r for r in results.values() if "decision_curve" in r]
    if curves:
        d = curves[0]["decision_curve"]
        ax.plot(d["threshold"], d["treat_all"], "k--", lw=0.8, label="treat all")
        ax.plot(d["threshold"], d["treat_none"], "k:", lw=0.8, label="treat none")
        ax.set_ylim(-0.05, max(0.05, curves[0]["prevalence"] * 1.1))
    ax.set(xlabel="threshold probability", ylabel="net benefit", title="Decision curve")
    ax.legend(fontsize=7)
    imgs["decision"] = png_base64(fig, dpi=90, tight=True)
    return imgs


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "—" if math.isnan(v) else f"{v:.3f}"
    return html.escape(str(v))


PREDICTION_COLUMNS = ("case_id", "patient_id", "label", "probability", "volume_only_probability",
                      "bat_probability", "bat_score", "variant", "fold", "probability_segmenter_masks")


def write_predictions(out_dir: str | Path, rows: list[dict[str, Any]]) -> Path:
    """``predictions.csv`` beside the report: one row per case (``PREDICTION_COLUMNS``; empty where
    not applicable), so a reader can recompute any figure, compare two models on the same patients
    (e.g. DeLong) or look up the cases a model ranks worst."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "predictions.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=PREDICTION_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: _csv_value(r.get(k)) for k in PREDICTION_COLUMNS})
    return path


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return "" if not math.isfinite(float(v)) else round(float(v), 6)
    if isinstance(v, np.integer):
        return int(v)
    return v


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
