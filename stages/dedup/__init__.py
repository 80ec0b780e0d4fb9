"""Stage `dedup`: exact and near-duplicate removal plus benchmark decontamination."""
