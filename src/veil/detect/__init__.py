"""Face detectors: each finds where faces are and nothing else."""
