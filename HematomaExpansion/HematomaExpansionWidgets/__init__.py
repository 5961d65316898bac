"""Qt parts of the Slicer panel that do not fit the thin module script: the embedded Segment Editor,
progress with cancel, dependency installation, the case list (folders and the DICOM database),
export and the follow-up comparison views. Only the Slicer application imports these (they use
``qt``, ``slicer.app`` and ``slicer.modules``); everything they compute is in ``HematomaExpansionLib``.
"""
