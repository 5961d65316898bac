"""Per-case measurements: volumes/ABC2, NCCT signs, radiomics, CNN deep features, clinical inputs."""
