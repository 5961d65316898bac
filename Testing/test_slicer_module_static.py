"""Static checks of the Slicer module: the parts that only run inside the Slicer application.

The panel (.ui + HematomaExpansion.py) and the CMake build cannot be exercised without Slicer,
so their contracts are checked from the sources: every ``self.ui.<name>`` exists in the .ui,
parameter bindings point at real parameters with a widget that can show them, and CMake lists
exactly the files on disk.
"""

from __future__ import annotations

import ast
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "HematomaExpansion"
UI_FILE = MODULE / "Resources" / "UI" / "HematomaExpansion.ui"
MODULE_PY = MODULE / "HematomaExpansion.py"
BATCH_PY = MODULE / "HematomaExpansionBatch.py"
LIB = MODULE / "HematomaExpansionLib"
WIDGETS = MODULE / "HematomaExpansionWidgets"  # the panel's Qt parts, next to the module script


def _ui_widgets() -> dict[str, ET.Element]:
    tree = ET.parse(UI_FILE)
    return {w.get("name"): w for w in tree.iter("widget")}


def _parameter_name(widget: ET.Element) -> str | None:
    for prop in widget.findall("property"):
        if prop.get("name") == "SlicerParameterName":
            return prop.findtext("string")
    return None


def _module_tree() -> ast.Module:
    return ast.parse(MODULE_PY.read_text())


def _class(tree: ast.Module, name: str) -> ast.ClassDef:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(f"class {name} not found in {MODULE_PY.name}")


def _parameter_annotations() -> dict[str, str]:
    cls = _class(_module_tree(), "HematomaExpansionParameterNode")
    assert any(ast.unparse(d) == "parameterNodeWrapper" for d in cls.decorator_list)
    return {n.target.id: ast.unparse(n.annotation) for n in cls.body if isinstance(n, ast.AnnAssign)}


# --- .ui and widget code ----------------------------------------------------------------------
def test_ui_is_valid_qt_designer_xml_with_a_qmrmlwidget_root():
    root = ET.parse(UI_FILE).getroot()
    assert root.tag == "ui"
    top = root.find("widget")
    assert top.get("class") == "qMRMLWidget" and top.get("name") == "HematomaExpansion"
    assert root.findtext("class") == "HematomaExpansion"


def _panel_sources() -> dict[str, str]:
    return {p.name: p.read_text() for p in [MODULE_PY, *sorted(WIDGETS.glob("*.py"))]}


def test_every_ui_widget_used_by_the_code_exists_in_the_ui():
    used = set(re.findall(r"self\.ui\.(\w+)", MODULE_PY.read_text()))
    assert len(used) >= 10, "the widget should reference its .ui widgets through self.ui"
    for name, source in _panel_sources().items():
        used_here = set(re.findall(r"\bui\.(\w+)", source)) - {"setMRMLScene"}
        missing = sorted(used_here - set(_ui_widgets()))
        assert not missing, f"used in {name} but absent from {UI_FILE.name}: {missing}"


def test_ui_widget_names_are_unique():
    names = [w.get("name") for w in ET.parse(UI_FILE).iter("widget")]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "name, cls",
    [
        ("inputVolumeSelector", "qMRMLNodeComboBox"),
        ("segmentationSelector", "qMRMLNodeComboBox"),
        ("caseListWidget", "QListWidget"),
        ("resultsTableView", "qMRMLTableView"),
        ("showHeatmapCheckBox", "QCheckBox"),
        ("heatmapOpacitySlider", "ctkSliderWidget"),
        ("definitionComboBox", "QComboBox"),
        ("methodComboBox", "QComboBox"),
        ("segmentButton", "QPushButton"),
        ("predictButton", "QPushButton"),
        ("rescoreButton", "QPushButton"),
        ("exportButton", "QPushButton"),
        ("previousCaseButton", "QPushButton"),
        ("nextCaseButton", "QPushButton"),
        ("loadDicomButton", "QPushButton"),
        ("inputsCollapsibleButton", "ctkCollapsibleButton"),
        ("segmentEditorWidget", "qMRMLSegmentEditorWidget"),
        ("editorCollapsibleButton", "ctkCollapsibleButton"),
        ("clinicalCollapsibleButton", "ctkCollapsibleButton"),
        ("onsetToCtSpinBox", "QDoubleSpinBox"),
        ("anticoagulationComboBox", "QComboBox"),
        ("recurrentIchComboBox", "QComboBox"),
        ("followupCollapsibleButton", "ctkCollapsibleButton"),
        ("followupVolumeSelector", "qMRMLNodeComboBox"),
        ("compareFollowupButton", "QPushButton"),
        ("followupTableView", "qMRMLTableView"),
    ],
)
def test_required_widgets_have_the_right_class(name, cls):
    widgets = _ui_widgets()
    assert name in widgets, f"{name} missing from the .ui"
    assert widgets[name].get("class") == cls


def test_custom_widgets_are_declared():
    root = ET.parse(UI_FILE).getroot()
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    used = {w.get("class") for w in root.iter("widget")}
    custom = {c for c in used if not c.startswith("Q")}
    assert custom <= declared, f"undeclared custom widgets: {sorted(custom - declared)}"


def test_scene_connections_target_existing_mrml_widgets():
    root = ET.parse(UI_FILE).getroot()
    widgets = _ui_widgets()
    receivers = set()
    for conn in root.iter("connection"):
        assert conn.findtext("sender") in widgets
        assert conn.findtext("receiver") in widgets
        receivers.add(conn.findtext("receiver"))
    mrml = {n for n, w in widgets.items() if w.get("class") in ("qMRMLNodeComboBox", "qMRMLTableView")}
    # the Segment Editor gets its scene in code, after its segment editor node (as Slicer's own module does)
    assert "segmentEditorWidget" not in receivers
    assert mrml <= receivers, f"MRML widgets without setMRMLScene connection: {sorted(mrml - receivers)}"


def test_parameter_bindings_match_parameter_node_fields_and_widget_types():
    params = _parameter_annotations()
    widgets = _ui_widgets()
    bound = {}
    for name, widget in widgets.items():
        param = _parameter_name(widget)
        if param is None:
            continue
        assert param in params, f"{name} is bound to unknown parameter {param!r}"
        bound[param] = widget
    for param in ("inputVolume", "segmentation", "definition", "segmentationMethod", "showHeatmap", "heatmapOpacity",
                  "modelsFolder", "onsetToCtHours", "anticoagulation", "recurrentIch", "followupVolume"):
        assert param in bound, f"parameter {param} has no widget"
    for param, widget in bound.items():
        annotation, cls = params[param], widget.get("class")
        if annotation.startswith("vtkMRML"):
            assert cls == "qMRMLNodeComboBox"
            node_types = [s.text for s in widget.iter("string") if s.text and s.text.startswith("vtkMRML")]
            assert annotation in node_types, f"{widget.get('name')} does not offer {annotation}"
        elif "Choice(" in annotation:
            assert cls == "QComboBox"  # parameterNodeWrapper fills the items from Choice
        elif annotation == "bool":
            assert cls == "QCheckBox"
        elif "WithinRange" in annotation:  # the exact classes parameterNodeWrapper connects to a float
            assert cls in ("ctkSliderWidget", "QDoubleSpinBox")
        elif annotation == "str":
            assert cls == "QLineEdit"


def _descendants(container: str) -> dict[str, ET.Element]:
    return {w.get("name"): w for w in _ui_widgets()[container].iter("widget")}


def test_segment_editor_is_embedded_in_the_panel():
    inside = _descendants("editorCollapsibleButton")
    assert inside["segmentEditorWidget"].get("class") == "qMRMLSegmentEditorWidget"
    root = ET.parse(UI_FILE).getroot()
    declared = {c.findtext("class"): c for c in root.iter("customwidget")}
    assert declared["qMRMLSegmentEditorWidget"].findtext("header") == "qMRMLSegmentEditorWidget.h"
    # Correct -> Re-score never leaves the module: no button switches to the Segment Editor module
    assert "segmentEditorButton" not in _ui_widgets()
    assert 'selectModule("SegmentEditor")' not in "".join(_panel_sources().values())
    editor = (WIDGETS / "editor.py").read_text()
    for call in ("setMRMLScene", "setMRMLSegmentEditorNode", "setSegmentationNode", "setSourceVolumeNode", "saveStateForUndo"):
        assert call in editor, f"the embedded editor never calls {call}"
    assert "beforeWrite=self._saveForUndo" in MODULE_PY.read_text()  # undo state saved before automatic writes


def test_clinical_form_widgets_are_bound_and_cover_every_clinical_input():
    from HematomaExpansionLib.features.clinical import CLINICAL_ALIASES
    from HematomaExpansionLib.mrml import clinical_form

    inside = _descendants("clinicalCollapsibleButton")
    params = _parameter_annotations()
    for field in clinical_form.FORM_FIELDS:
        widget = inside.get(field.widget)
        assert widget is not None, f"{field.widget} missing from the Clinical inputs section"
        assert widget.get("class") == field.widget_class
        assert _parameter_name(widget) == field.parameter and field.parameter in params
    spin = inside["onsetToCtSpinBox"]
    props = {p.get("name"): p for p in spin.findall("property")}
    assert props["specialValueText"].findtext("string") == clinical_form.NOT_GIVEN  # the minimum reads "not given"
    assert float(props["minimum"].findtext("double")) == clinical_form.ONSET_NOT_GIVEN
    assert float(props["value"].findtext("double")) == clinical_form.ONSET_NOT_GIVEN
    assert "form.ONSET_NOT_GIVEN" in params["onsetToCtHours"]
    assert "form.ANTICOAGULATION_CHOICES" in params["anticoagulation"] and "form.YES_NO_CHOICES" in params["recurrentIch"]
    covered = {key for field in clinical_form.FORM_FIELDS for key in field.clinical_keys}
    assert set(CLINICAL_ALIASES) <= covered, f"clinical inputs without a form field: {set(CLINICAL_ALIASES) - covered}"
    # the free-text KEY=VALUE line is gone
    assert "clinical" not in params and "clinicalLineEdit" not in _ui_widgets()


def test_followup_section():
    inside = _descendants("followupCollapsibleButton")
    assert inside["followupVolumeSelector"].get("class") == "qMRMLNodeComboBox"
    assert _parameter_name(inside["followupVolumeSelector"]) == "followupVolume"
    assert inside["compareFollowupButton"].get("class") == "QPushButton"
    assert inside["followupTableView"].get("class") == "qMRMLTableView"
    source = (WIDGETS / "followup.py").read_text()
    tree = ast.parse(source)
    lazy = [n for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)
            if isinstance(n, ast.ImportFrom) and n.module == "HematomaExpansionLib.mrml.followup"]
    assert lazy, "compare_followup must be imported inside the handler"
    assert "compare_followup(" in source and "setLayout(" in source


def test_module_classes_follow_slicer_conventions():
    tree = _module_tree()
    bases = {n.name: [ast.unparse(b) for b in n.bases] for n in tree.body if isinstance(n, ast.ClassDef)}
    assert bases["HematomaExpansion"] == ["ScriptedLoadableModule"]
    assert bases["HematomaExpansionWidget"] == ["ScriptedLoadableModuleWidget", "VTKObservationMixin"]
    assert bases["HematomaExpansionLogic"] == ["ScriptedLoadableModuleLogic"]
    assert bases["HematomaExpansionTest"] == ["ScriptedLoadableModuleTest"]
    test_methods = {n.name for n in _class(tree, "HematomaExpansionTest").body if isinstance(n, ast.FunctionDef)}
    assert {"setUp", "runTest"} <= test_methods
    source = MODULE_PY.read_text()
    assert 'loadUI(self.resourcePath("UI/HematomaExpansion.ui"))' in source
    assert "from slicer.i18n import tr as _" in source
    assert "confirmYesNoDisplay" in source  # asks before replacing a user's segmentation


def _imported_top_names(tree: ast.Module) -> set[str]:
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    return imported


def test_core_imports_slicer_only_in_the_mrml_package():
    slicer_users = []
    for path in sorted(LIB.rglob("*.py")):
        tree = ast.parse(path.read_text())
        imported = _imported_top_names(tree)
        rel = path.relative_to(LIB).as_posix()
        if path.parent == LIB / "mrml":
            if "slicer" in imported:
                slicer_users.append(rel)
            assert not imported & {"qt", "ctk", "ScriptedLoadableModule"}, f"{rel} must not import Qt"
            names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            attributes = {ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
            assert "ScriptedLoadableModule" not in names
            assert not {"slicer.app", "slicer.modules"} & attributes, f"{rel}: slicer-core has no slicer.app/modules"
        else:
            assert not imported & {"slicer", "qt", "ctk", "vtk"}, f"{rel} imports Slicer/Qt/VTK"
    assert "mrml/volumes.py" in slicer_users and "mrml/segments.py" in slicer_users


def test_module_script_stays_a_thin_layer():
    assert len(MODULE_PY.read_text().splitlines()) <= 450, "move Qt-free logic into HematomaExpansionLib/mrml"
    assert "HematomaExpansionLib.mrml.bridge" not in MODULE_PY.read_text() + BATCH_PY.read_text()
    for name, source in _panel_sources().items():
        assert len(source.splitlines()) <= 450, f"{name} is over 450 lines"


def test_widgets_package_is_only_imported_lazily_by_the_module():
    """The module script imports HematomaExpansionWidgets (Qt, slicer.app) only inside methods, so that the
    Logic stays importable in a Slicer without a GUI (and on slicer-core in the tests)."""
    tree = _module_tree()
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not [ast.unparse(n) for n in top if "HematomaExpansionWidgets" in ast.unparse(n)]
    assert "HematomaExpansionWidgets" in MODULE_PY.read_text()
    for path in WIDGETS.glob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, f"{path.name} needs a docstring"


def test_batch_entry_is_a_script_with_exit_status():
    source = BATCH_PY.read_text()
    assert 'if __name__ == "__main__":' in source and "slicer.util.exit" in source
    assert "argparse" in source and "--output-dir" in source
    assert not re.search(r"^\s*import (qt|ctk)\b", source, re.M)
    # one batch runner and one CSV schema: the core's (pipeline.batch), driven through mrml.batch
    assert "run_batch_in_scene" in source and "csv" not in _imported_top_names(ast.parse(source))


def test_icon_is_a_128px_png():
    data = (MODULE / "Resources" / "Icons" / "HematomaExpansion.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (128, 128)


# --- CMake ------------------------------------------------------------------------------------
def _cmake_list(text: str, variable: str) -> list[str]:
    match = re.search(rf"set\(\s*{variable}\s+(.*?)\)", text, re.S)
    assert match, f"{variable} not set"
    items = [line.split("#")[0].strip() for line in match.group(1).splitlines()]
    return [i.replace("${MODULE_NAME}", "HematomaExpansion") for i in items if i]


def test_module_cmake_lists_every_python_file_and_resource():
    text = (MODULE / "CMakeLists.txt").read_text()
    assert "set(MODULE_NAME HematomaExpansion)" in text
    assert re.search(r"slicerMacroBuildScriptedModule\(\s*NAME \$\{MODULE_NAME\}", text)
    scripts = _cmake_list(text, "MODULE_PYTHON_SCRIPTS")
    resources = _cmake_list(text, "MODULE_PYTHON_RESOURCES")
    assert len(scripts) == len(set(scripts)), "duplicates in MODULE_PYTHON_SCRIPTS"
    on_disk = {p.relative_to(MODULE).as_posix() for p in MODULE.glob("*.py")}
    on_disk |= {p.relative_to(MODULE).as_posix() for p in LIB.rglob("*.py") if "__pycache__" not in p.parts}
    on_disk |= {p.relative_to(MODULE).as_posix() for p in WIDGETS.rglob("*.py") if "__pycache__" not in p.parts}
    listed = set(scripts)
    assert not on_disk - listed, f"add to MODULE_PYTHON_SCRIPTS in HematomaExpansion/CMakeLists.txt: {sorted(on_disk - listed)}"
    assert not listed - on_disk, f"listed in CMake but missing on disk: {sorted(listed - on_disk)}"
    resource_files = {p.relative_to(MODULE).as_posix() for p in (MODULE / "Resources").rglob("*") if p.is_file()}
    resource_files |= {p.relative_to(MODULE).as_posix() for p in (LIB / "resources").rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts} if (LIB / "resources").exists() else set()
    assert set(resources) == resource_files, (
        f"MODULE_PYTHON_RESOURCES mismatch: missing {sorted(resource_files - set(resources))}, "
        f"extra {sorted(set(resources) - resource_files)}")
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text
    assert "models" in text and "Resources" in text  # bundled models installed as module resources


def test_extension_cmake_metadata():
    text = (ROOT / "CMakeLists.txt").read_text()
    for var in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS"):
        assert re.search(rf'set\({var} "[^"]+"\)', text), f"{var} missing or empty"
    assert 'set(EXTENSION_CATEGORY "Quantification")' in text
    # icon and screenshot URLs are raw links to files of this repository: those files must exist
    for var, path in (("EXTENSION_ICONURL", "HematomaExpansion/Resources/Icons/HematomaExpansion.png"),
                      ("EXTENSION_SCREENSHOTURLS", "docs/panel_layout.png")):
        url = re.search(rf'set\({var} "([^"]+)"\)', text).group(1)
        assert url.startswith("https://") and url.endswith("/" + path), f"{var} should point to {path}"
        assert (ROOT / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'set(EXTENSION_DEPENDS "NA")' in text
    assert "find_package(Slicer REQUIRED)" in text and "include(${Slicer_USE_FILE})" in text
    assert "add_subdirectory(HematomaExpansion)" in text
    assert "include(${Slicer_EXTENSION_CPACK})" in text
