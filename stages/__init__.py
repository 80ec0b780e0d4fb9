"""Pipeline stages; each runs as `python -m stages.<name>` (see dvc.yaml)."""
