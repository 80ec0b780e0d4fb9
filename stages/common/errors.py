"""Errors that the pipeline reports as one clear sentence instead of a traceback."""

from __future__ import annotations


class PipelineError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""


class ParamsError(PipelineError):
    """A params file key is unknown, mistyped or inconsistent."""


class DataError(PipelineError):
    """Input data is malformed, missing, or does not match its declared hash."""
