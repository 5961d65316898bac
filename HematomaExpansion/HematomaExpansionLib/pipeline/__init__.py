"""Running the whole pipeline on one case and on a batch of cases."""
