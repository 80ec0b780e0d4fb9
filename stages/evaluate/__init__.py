"""Evaluate stage: language-modelling and task metrics, each beside its baselines."""
