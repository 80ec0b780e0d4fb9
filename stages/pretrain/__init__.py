"""Pre-train a language model from a config alone on the packed token files."""
