"""The panel's clinical-inputs form: its fields, their "not given" values, and the clinical dict they make.

Each field is a parameter of the module's parameter node (bound to a widget in the .ui). A field
left at its "not given" value never reaches the clinical dict: nothing is imputed, and a score that
needs it says "not computable: missing ...". The fields cover every clinical input that a model or a
score reads (``features.clinical.CLINICAL_ALIASES``: onset-to-CT time, anticoagulation, warfarin,
recurrent ICH; BAT and BRAIN read the same); ``Testing/test_radiologist_panel.py`` checks that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

NOT_GIVEN = "not given"
ONSET_NOT_GIVEN = -1.0  # the onset spin box's minimum; shown as "not given" (QDoubleSpinBox specialValueText)
MAX_ONSET_HOURS = 720.0  # features.clinical.MAX_ONSET_TO_CT_H
ANTICOAGULATION_CHOICES = (NOT_GIVEN, "none", "warfarin", "DOAC")
YES_NO_CHOICES = (NOT_GIVEN, "no", "yes")


@dataclass(frozen=True)
class FormField:
    parameter: str  # parameter node attribute (and the widget's SlicerParameterName)
    widget: str  # widget name in the .ui
    widget_class: str
    clinical_keys: tuple[str, ...]  # canonical clinical inputs this field gives (features.clinical)


FORM_FIELDS = (
    FormField("onsetToCtHours", "onsetToCtSpinBox", "QDoubleSpinBox", ("onset_to_ct_h",)),
    FormField("anticoagulation", "anticoagulationComboBox", "QComboBox", ("anticoagulation", "warfarin")),
    FormField("recurrentIch", "recurrentIchComboBox", "QComboBox", ("recurrent_ich",)),
)


def clinical_from_form(onset_to_ct_hours: float | None = ONSET_NOT_GIVEN, anticoagulation: str = NOT_GIVEN,
                       recurrent_ich: str = NOT_GIVEN) -> dict[str, Any]:
    """The clinical dict of the form's values; fields at "not given" are left out.

    ``anticoagulation``: none / warfarin / DOAC (→ ``anticoagulation`` and ``warfarin``, as
    ``features.clinical.normalize_clinical`` reads them); ``recurrent_ich``: no / yes.
    """
    clinical: dict[str, Any] = {}
    if onset_to_ct_hours is not None and math.isfinite(onset_to_ct_hours) and onset_to_ct_hours > ONSET_NOT_GIVEN:
        if onset_to_ct_hours < 0:
            raise ValueError(f"onset-to-CT time {onset_to_ct_hours} h is negative")
        clinical["onset_to_ct_h"] = float(onset_to_ct_hours)
    value = (anticoagulation or NOT_GIVEN).strip()
    if value.lower() == "none":
        clinical.update(anticoagulation=False, warfarin=False)
    elif value.lower() == "warfarin":
        clinical.update(anticoagulation=True, warfarin=True)
    elif value.lower() == "doac":
        clinical.update(anticoagulation=True, warfarin=False)
    elif value != NOT_GIVEN:
        raise ValueError(f"anticoagulation {anticoagulation!r}: choose one of {', '.join(ANTICOAGULATION_CHOICES)}")
    value = (recurrent_ich or NOT_GIVEN).strip().lower()
    if value in ("no", "yes"):
        clinical["recurrent_ich"] = value == "yes"
    elif value != NOT_GIVEN:
        raise ValueError(f"recurrent ICH {recurrent_ich!r}: choose one of {', '.join(YES_NO_CHOICES)}")
    return clinical


def clinical_from_parameter_node(node: Any) -> dict[str, Any]:
    """The clinical dict of a parameter node (a ``vtkMRMLScriptedModuleNode`` as parameterNodeWrapper
    stores it: one string parameter per field; an absent or empty parameter is "not given")."""

    def text(name: str) -> str:
        return (node.GetParameter(name) or "").strip() if node is not None else ""

    onset = text("onsetToCtHours")
    return clinical_from_form(float(onset) if onset else ONSET_NOT_GIVEN,
                              text("anticoagulation") or NOT_GIVEN, text("recurrentIch") or NOT_GIVEN)


def describe_clinical(clinical: dict[str, Any]) -> str:
    """One line for the status label: what was given (``"none given"`` when nothing)."""
    if not clinical:
        return "no clinical inputs given"
    parts = []
    if "onset_to_ct_h" in clinical:
        parts.append(f"onset to CT {clinical['onset_to_ct_h']:g} h")
    if "anticoagulation" in clinical:
        parts.append("warfarin" if clinical.get("warfarin") else ("DOAC" if clinical["anticoagulation"] else "no anticoagulation"))
    if "recurrent_ich" in clinical:
        parts.append("recurrent ICH" if clinical["recurrent_ich"] else "first ICH")
    return ", ".join(parts)


def status_text(prediction: Any, clinical: dict[str, Any] | None = None, versions: dict[str, str | None] | None = None) -> str:
    """The panel's status lines: volumes; probability with the clinical inputs used; package versions."""
    m = prediction.measurements
    text = (f"Hemorrhage {m.volume_ml:.1f} mL (IPH {m.iph_volume_ml:.1f}, IVH {m.ivh_volume_ml:.1f}; "
            f"ABC/2 {m.abc2_ml:.1f} mL)")
    if prediction.model is not None:
        mo = prediction.model
        text += (f"\nExpansion probability {mo.probability:.0%} ({mo.risk_band} risk, definition: {mo.definition}); "
                 f"{describe_clinical(clinical or {})}")
    if versions:
        text += "\n" + ", ".join(f"{name} {version or '-'}" for name, version in versions.items())
    return text
