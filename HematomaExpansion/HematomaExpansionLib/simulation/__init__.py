"""Data engine (development only): simulated hemorrhage cases, cohorts and the demo sample."""
