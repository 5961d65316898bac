"""Expansion prediction: classifier, predictor, clinical scores (BAT, BRAIN) and expansion definitions."""
