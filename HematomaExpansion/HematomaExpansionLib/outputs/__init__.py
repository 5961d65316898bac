"""Files written for a case (masks, heatmap, result.json, HTML report) and metric reports."""
