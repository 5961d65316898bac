#!/usr/bin/env python
"""Draw the Slicer panel (HematomaExpansion/Resources/UI/HematomaExpansion.ui) into docs/panel_layout.png.

Slicer's own widgets (ctk*, qMRML*) exist only inside Slicer, so they are replaced by plain Qt
placeholders that look alike (collapsible sections → group boxes, node selectors → combo boxes
showing a node name, MRML tables → tables with example rows, the Segment Editor → a mock of its
toolbar and segment list); every other widget, its text, tooltip and layout are the .ui's own.
All sections are drawn expanded, buttons enabled (as once a CT is selected). Names and values
shown are placeholders, not results.

Needs PyQt5 (pip install PyQt5, best in a separate virtual environment: it must not change the
project environment's vtk); renders off-screen, no display needed:

    python -m venv /tmp/qt && /tmp/qt/bin/pip install PyQt5
    /tmp/qt/bin/python scripts/render_panel_layout.py [--output docs/panel_layout.png]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "HematomaExpansion" / "Resources" / "UI" / "HematomaExpansion.ui"
OUTPUT = ROOT / "docs" / "panel_layout.png"
WIDTH = 430

NODE_NAMES = {"inputVolumeSelector": "CT_baseline", "segmentationSelector": "CT_baseline hemorrhage",
              "followupVolumeSelector": "CT_followup_24h"}
CHOICES = {"methodComboBox": ["auto", "net", "classic"], "definitionComboBox": ["default"],
           "anticoagulationComboBox": ["not given", "none", "warfarin", "DOAC"], "recurrentIchComboBox": ["not given", "no", "yes"]}
TABLES = {
    "resultsTableView": (["Quantity", "Value", "Unit"], [
        ["Hemorrhage volume (IPH + IVH)", "…", "mL"], ["Intraparenchymal hemorrhage volume", "…", "mL"],
        ["ABC/2 volume", "…", "mL"], ["Expansion probability", "…", "probability (0-1)"],
        ["BAT score", "…", "points"], ["Software: torch", "…", "version"]]),
    "followupTableView": (["Quantity", "Value", "Unit"], [
        ["Baseline IPH volume", "…", "mL"], ["Follow-up IPH volume", "…", "mL"], ["Absolute growth", "…", "mL"],
        ["Expansion (6ml_or_33pct)", "…", ""]]),
}
EDITOR_EFFECTS = ["Undo", "Redo", "Paint", "Draw", "Erase", "Level tracing", "Grow from seeds", "Threshold", "Islands",
                  "Scissors", "Smoothing"]
SEGMENTS = ["Intraparenchymal hemorrhage", "Intraventricular hemorrhage"]
CASES = ["case_01", "case_02", "Test Phantom - Head 5mm | 2024-01-01 | 20 images"]
MRML_ONLY_PROPERTIES = {"nodeTypes", "showChildNodeTypes", "noneEnabled", "addEnabled", "removeEnabled", "renameEnabled",
                        "noneDisplay", "collapsed", "editTriggers"}


def _string_property(name: str, text: str) -> ET.Element:
    prop = ET.Element("property", name=name)
    ET.SubElement(prop, "string").text = text
    return prop


def _combo_items(widget: ET.Element, items: list[str]) -> None:
    for text in items:
        item = ET.SubElement(widget, "item")
        item.append(_string_property("text", text))


def _table(widget: ET.Element, columns: list[str], rows: list[list[str]]) -> None:
    widget.set("class", "QTableWidget")
    for text in columns:
        column = ET.SubElement(widget, "column")
        column.append(_string_property("text", text))
    for _ in rows:
        row = ET.SubElement(widget, "row")
        row.append(_string_property("text", ""))
    for r, values in enumerate(rows):
        for c, text in enumerate(values):
            item = ET.SubElement(widget, "item", row=str(r), column=str(c))
            item.append(_string_property("text", text))


def _editor_mock(widget: ET.Element) -> None:
    """The Segment Editor as a frame: its effect buttons and segment list (placeholders)."""
    widget.set("class", "QFrame")
    for child in list(widget):
        widget.remove(child)
    shape = ET.SubElement(widget, "property", name="frameShape")
    ET.SubElement(shape, "enum").text = "QFrame::StyledPanel"
    layout = ET.SubElement(widget, "layout", {"class": "QVBoxLayout", "name": "editorMockLayout"})
    title = ET.SubElement(ET.SubElement(layout, "item"), "widget", {"class": "QLabel", "name": "editorMockTitle"})
    title.append(_string_property("text", "Segment Editor (embedded qMRMLSegmentEditorWidget)"))
    grid = ET.SubElement(ET.SubElement(layout, "item"), "layout", {"class": "QGridLayout", "name": "editorMockEffects"})
    for i, effect in enumerate(EDITOR_EFFECTS):
        cell = ET.SubElement(grid, "item", row=str(i // 4), column=str(i % 4))
        button = ET.SubElement(cell, "widget", {"class": "QToolButton", "name": f"editorMockEffect{i}"})
        button.append(_string_property("text", effect))
    segments = ET.SubElement(ET.SubElement(layout, "item"), "widget", {"class": "QTableWidget", "name": "editorMockSegments"})
    _table(segments, ["Segment"], [[s] for s in SEGMENTS])
    height = ET.SubElement(segments, "property", name="maximumSize")
    size = ET.SubElement(height, "size")
    ET.SubElement(size, "width").text = "16777215"
    ET.SubElement(size, "height").text = "90"


def placeholder_ui(ui_path: Path = UI) -> bytes:
    """The .ui with Slicer-only widgets replaced by plain Qt ones (see the module docstring)."""
    tree = ET.parse(ui_path)
    root = tree.getroot()
    for section in ("customwidgets", "connections"):
        for element in root.findall(section):
            root.remove(element)
    for widget in root.iter("widget"):
        cls, name = widget.get("class"), widget.get("name")
        for prop in list(widget.findall("property")):
            if prop.get("name") in MRML_ONLY_PROPERTIES or prop.get("stdset") == "0":
                widget.remove(prop)
        if cls == "qMRMLWidget":
            widget.set("class", "QWidget")
        elif cls == "ctkCollapsibleButton":
            widget.set("class", "QGroupBox")
            for prop in widget.findall("property"):
                if prop.get("name") == "text":
                    prop.set("name", "title")
        elif cls == "qMRMLNodeComboBox":
            widget.set("class", "QComboBox")
            _combo_items(widget, [NODE_NAMES.get(name, "node")])
        elif cls == "qMRMLTableView":
            _table(widget, *TABLES.get(name, (["Quantity", "Value", "Unit"], [])))
        elif cls == "ctkSliderWidget":
            widget.set("class", "QDoubleSpinBox")
        elif cls == "qMRMLSegmentEditorWidget":
            _editor_mock(widget)
        elif cls == "QComboBox" and name in CHOICES:
            _combo_items(widget, CHOICES[name])
        if name == "statusLabel":
            widget.append(_string_property("text", "Status: volumes, expansion probability, clinical inputs used, "
                                                   "torch / pyradiomics versions"))
    return ET.tostring(copy.deepcopy(root), encoding="utf-8")


def render(output: Path = OUTPUT, width: int = WIDTH) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from PyQt5 import QtWidgets, uic
    except ImportError:
        sys.exit("render_panel_layout.py needs PyQt5: pip install PyQt5 (in a separate virtual environment)")
    import io

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    app.setStyle("Fusion")
    panel = uic.loadUi(io.BytesIO(placeholder_ui()))
    panel.setWindowTitle("Hematoma Expansion")
    # the state once a CT is selected: actions enabled, a few cases listed
    for button in panel.findChildren(QtWidgets.QPushButton):
        button.setEnabled(True)
    panel.findChild(QtWidgets.QListWidget, "caseListWidget").addItems(CASES)
    for table in panel.findChildren(QtWidgets.QTableWidget):
        table.verticalHeader().hide()
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
    panel.resize(width, 100)
    panel.adjustSize()
    panel.resize(width, panel.sizeHint().height())
    output.parent.mkdir(parents=True, exist_ok=True)
    if not panel.grab().save(str(output), "PNG"):
        sys.exit(f"could not write {output}")
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--width", type=int, default=WIDTH)
    args = parser.parse_args()
    print(render(args.output, args.width))


if __name__ == "__main__":
    main()
