"""Results tables: one case as Quantity / Value / Unit rows, and a case-per-row summary table."""

from __future__ import annotations

import math
from typing import Any

import slicer
import vtk

from ..core.dependencies import package_versions
from ..core.results import Prediction, describe_scores

TABLE_COLUMNS = ("Quantity", "Value", "Unit")
N_TOP_FEATURES = 5

# Wide format: one row per case, one numeric column per quantity, units as column properties.
SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("volume_ml", "Hemorrhage volume", "mL"),
    ("iph_volume_ml", "Intraparenchymal hemorrhage volume", "mL"),
    ("ivh_volume_ml", "Intraventricular hemorrhage volume", "mL"),
    ("abc2_ml", "ABC/2 volume", "mL"),
    ("he_probability", "Expansion probability", ""),
)
SUMMARY_TEXT_COLUMNS = ("case", "risk_band", "definition", "model_id")


def _fmt(value: float, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.{digits}f}"


def show_column_titles(table_node: Any) -> None:
    """The first row is data and the column names are the headers. Slicer 5.1 moved headers to column titles
    (``SetUseColumnNameAsColumnHeader`` still works there but logs a deprecation warning on every call), so
    each untitled column is titled with its name."""
    if not hasattr(table_node, "SetUseColumnTitleAsColumnHeader"):  # Slicer before 5.1
        table_node.SetUseColumnNameAsColumnHeader(True)
        return
    for i in range(table_node.GetNumberOfColumns()):
        name = table_node.GetColumnName(i)
        if not table_node.GetColumnTitle(name):
            table_node.SetColumnTitle(name, name)
    table_node.SetUseColumnTitleAsColumnHeader(True)


def software_rows(versions: dict[str, str | None] | None = None) -> list[tuple[str, str, str]]:
    """One row per recorded package (torch, pyradiomics, ...): the versions that produced the numbers."""
    versions = package_versions() if versions is None else versions
    return [(f"Software: {name}", version or "not installed", "version") for name, version in versions.items()]


def prediction_rows(prediction: Prediction, versions: dict[str, str | None] | None = None) -> list[tuple[str, str, str]]:
    """(quantity, value, unit) rows shown in the results table (values as text, full precision kept).

    ``versions``: package → version to record (default: what is installed, ``core.dependencies``)."""
    m = prediction.measurements
    rows = [
        ("Hemorrhage volume (IPH + IVH)", _fmt(m.volume_ml, 3), "mL"),
        ("Intraparenchymal hemorrhage volume", _fmt(m.iph_volume_ml, 3), "mL"),
        ("Intraventricular hemorrhage volume", _fmt(m.ivh_volume_ml, 3), "mL"),
        ("ABC/2 volume", _fmt(m.abc2_ml, 3), "mL"),
        ("ABC/2 diameters A x B x C", f"{m.abc2_a_mm:.1f} x {m.abc2_b_mm:.1f} x {m.abc2_c_mm:.1f}", "mm"),
        ("Hemorrhage components", str(int(m.n_components)), ""),
        ("Segmentation source", prediction.mask_source, ""),
    ]
    model = prediction.model
    if model is not None:
        rows += [
            ("Expansion probability", _fmt(float(model.probability), 4), "probability (0-1)"),
            ("Risk band", str(model.risk_band), ""),
            ("Expansion definition", str(model.definition), ""),
            ("Model", str(model.model_id), ""),
            ("Model version", str(model.model_version), ""),
        ]
        if model.feature_version:
            rows.append(("Image-feature definitions", str(model.feature_version), ""))
        rows += describe_scores(model.scores)
        top = sorted(model.contributions, key=lambda c: abs(c.contribution), reverse=True)[:N_TOP_FEATURES]
        for rank, c in enumerate(top, 1):
            rows.append((f"Top feature {rank}: {c.name}", f"{c.contribution:+.4f}", "log-odds"))
    for warning in prediction.warnings:
        rows.append(("Warning", warning, ""))
    return rows + software_rows(versions)


def prediction_to_table_node(prediction: Prediction, table_node: Any = None, scene: Any = None,
                             versions: dict[str, str | None] | None = None) -> Any:
    """Results as a vtkMRMLTableNode with columns Quantity / Value / Unit (one row per quantity).
    ``versions``: the package versions to show (default: the installed ones)."""
    if table_node is None:
        scene = scene or slicer.mrmlScene
        table_node = scene.AddNewNodeByClass("vtkMRMLTableNode", f"{prediction.source or 'Case'} expansion results")
    was_modifying = table_node.StartModify()
    table = table_node.GetTable()
    table.Initialize()
    columns = {}
    for name in TABLE_COLUMNS:
        column = vtk.vtkStringArray()
        column.SetName(name)
        table.AddColumn(column)
        columns[name] = column
    for quantity, value, unit in prediction_rows(prediction, versions):
        columns["Quantity"].InsertNextValue(quantity)
        columns["Value"].InsertNextValue(value)
        columns["Unit"].InsertNextValue(unit)
    table_node.SetColumnDescription("Quantity", "Measured or predicted quantity")
    table_node.SetColumnDescription("Value", "Value; numbers are plain decimals, in the row's unit")
    table_node.SetColumnDescription("Unit", "Unit of the value in the same row")
    for name in TABLE_COLUMNS:
        table_node.SetColumnType(name, vtk.VTK_STRING)
    show_column_titles(table_node)
    table_node.SetAttribute("HematomaExpansion.Source", prediction.source or "")
    table.Modified()
    table_node.EndModify(was_modifying)
    return table_node


def add_case_to_summary_table(prediction: Prediction, case_name: str, table_node: Any = None, scene: Any = None) -> Any:
    """Add (or replace) the row of ``case_name`` in a case-per-row summary table.

    Numeric columns are doubles with units in the column properties (``SetColumnUnitLabel``);
    text columns: case, risk band, definition, model.
    """
    if table_node is None:
        table_node = (scene or slicer.mrmlScene).AddNewNodeByClass("vtkMRMLTableNode", "Hematoma expansion cases")
    table = table_node.GetTable()
    if table.GetNumberOfColumns() == 0:
        for name in SUMMARY_TEXT_COLUMNS:
            column = vtk.vtkStringArray()
            column.SetName(name)
            table.AddColumn(column)
        for name, long_name, unit in SUMMARY_COLUMNS:
            column = vtk.vtkDoubleArray()
            column.SetName(name)
            table.AddColumn(column)
            table_node.SetColumnLongName(name, long_name)
            table_node.SetColumnUnitLabel(name, unit)
    values = prediction.to_json_dict()
    row = next((r for r in range(table.GetNumberOfRows()) if table.GetValueByName(r, "case").ToString() == case_name), None)
    if row is None:
        row = table.InsertNextBlankRow()
    table.SetValueByName(row, "case", vtk.vtkVariant(case_name))
    for name in SUMMARY_TEXT_COLUMNS[1:]:
        table.SetValueByName(row, name, vtk.vtkVariant("" if values.get(name) is None else str(values[name])))
    for name, _, _ in SUMMARY_COLUMNS:
        value = values.get(name)
        table.SetValueByName(row, name, vtk.vtkVariant(float("nan") if value is None else float(value)))
    table.Modified()
    table_node.Modified()
    return table_node
