"""Result types passed between pipeline stages and to the front ends (CLI, Slicer, batch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

LABEL_IPH = 1
LABEL_IVH = 2
LABEL_NAMES = {LABEL_IPH: "Intraparenchymal hemorrhage", LABEL_IVH: "Intraventricular hemorrhage"}
# IVH below this volume (mL) is not "IVH present" in an automatic mask (new IVH; BRAIN's IVH extension;
# the segmenter's IVH specks on a clot): about 100 voxels of 1 mm³, above the bundled segmenter's
# smallest kept component (0.05 mL) and far below any clinically visible IVH.
IVH_PRESENT_MIN_ML = 0.1


@dataclass
class Measurements:
    volume_ml: float  # all hemorrhage (IPH + IVH)
    iph_volume_ml: float
    ivh_volume_ml: float
    abc2_ml: float  # Kothari ABC/2 on the IPH (all hemorrhage when there is no IPH)
    abc2_a_mm: float
    abc2_b_mm: float
    abc2_c_mm: float
    max_area_slice: int  # index along the canonical axial axis (0 = most inferior)
    max_area_mm2: float
    n_components: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Contribution:
    name: str
    value: float
    contribution: float  # signed effect on the log-odds (positive pushes towards expansion)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _component_label(key: str) -> str:
    """``onset_to_ct_lt_2.5h`` → ``onset to CT < 2.5h``."""
    words = {"lt": "<", "ct": "CT", "ivh": "IVH", "ich": "ICH"}
    return " ".join(words.get(w, w) for w in key.split("_"))


def describe_scores(scores: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """Readable (name, text, unit) rows for ``ModelOutput.scores``: BAT/BRAIN with their points, the model variant.

    e.g. ("BAT score", "4 of 5, high risk (blend sign 0, any hypodensity 2, onset to CT < 2.5h 2)", "points"),
    ("BRAIN score", "not computable: missing warfarin", ""), ("Model variant", "image + clinical model", "").
    """
    rows: list[tuple[str, str, str]] = []
    for name, score in (scores or {}).items():
        if name == "model_variant":
            text = str((score or {}).get("note") or (score or {}).get("variant", ""))
            unused = (score or {}).get("unused_clinical_inputs") or []
            if unused:
                text += f"; ignored inputs: {', '.join(unused)}"
            rows.append(("Model variant", text, ""))
            continue
        if not isinstance(score, dict) or score.get("value") is None:
            reason = score.get("reason") if isinstance(score, dict) else None
            rows.append((f"{name} score", reason or "not computable", ""))
            continue
        text = f"{score['value']}"
        if score.get("range"):
            text += f" of {score['range'][1]}"
        if "high_risk" in score:
            text += ", high risk" if score["high_risk"] else ", not high risk"
        parts = ", ".join(f"{_component_label(k)} {v}" for k, v in (score.get("components") or {}).items())
        rows.append((f"{name} score", f"{text} ({parts})" if parts else text, "points"))
    return rows


@dataclass
class ModelOutput:
    """What an expansion model returns for one case."""

    probability: float
    risk_band: str
    definition: str
    model_id: str
    model_version: str
    contributions: list[Contribution] = field(default_factory=list)
    feature_version: str = ""  # the image-feature definitions the probability was measured with
    features: dict[str, float] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)  # BAT/BRAIN, None = not computable
    gradcam: np.ndarray | None = None  # float32 on the CT grid, 0..1
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Prediction:
    """Everything the pipeline knows about one scan."""

    source: str
    mask: np.ndarray  # uint8 labels on the CT grid: 0 background, 1 IPH, 2 IVH
    mask_source: str  # "classic", "net (<model id> <version>, threshold)", or "user"
    measurements: Measurements
    model: ModelOutput | None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # "ok" (scored or measured), "no_hemorrhage" (empty mask) or "too_small" (below the scorable volume)
    status: str = "ok"

    def to_json_dict(self) -> dict[str, Any]:
        """The result.json content (CLI contract names)."""
        m = self.measurements
        out: dict[str, Any] = {
            "source": self.source,
            "status": self.status,
            "volume_ml": round(m.volume_ml, 3),
            "iph_volume_ml": round(m.iph_volume_ml, 3),
            "ivh_volume_ml": round(m.ivh_volume_ml, 3),
            "abc2_ml": round(m.abc2_ml, 3),
            "measurements": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in m.to_dict().items()},
            "mask_source": self.mask_source,
        }
        if self.model is not None:
            mo = self.model
            out.update(
                he_probability=round(float(mo.probability), 4),
                risk_band=mo.risk_band,
                definition=mo.definition,
                model_id=mo.model_id,
                model_version=mo.model_version,
                feature_version=mo.feature_version,
                features_used=[c.to_dict() for c in mo.contributions],
                scores=mo.scores,
                features={k: float(v) for k, v in mo.features.items()},
            )
        else:
            out.update(he_probability=None, risk_band=None, definition=None, model_id=None, model_version=None)
        out["timings_s"] = {k: round(v, 3) for k, v in {**self.timings, **(self.model.timings if self.model else {})}.items()}
        out["warnings"] = list(self.warnings)
        return out
