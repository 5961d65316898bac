"""Development only: cohort tables, feature cache, cross-validation, model fitting, CNN and segmentation training, metrics."""
