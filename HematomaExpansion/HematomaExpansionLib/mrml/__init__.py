"""The only code that imports ``slicer``: CT/segmentation/table/heatmap nodes and the node-level pipeline."""
