"""The errors grucast shows to its users.

Contract: a :class:`GrucastError` is caused by the user's input or settings, never by a bug. Its
message is displayed to the user as one line (``Error: <message>``) and the process exits with
the error's ``exit_code``. The message names the file, column, row or setting that is wrong and,
where it can, what to do about it. Anything that is not a GrucastError is a bug and keeps its
traceback.
"""

from __future__ import annotations


class GrucastError(Exception):
    """A problem with the user's data, settings or files; shown as one line, no traceback."""

    exit_code = 1


class ConfigError(GrucastError):
    """A setting is unknown, has the wrong type or is out of range."""


class DataError(GrucastError):
    """An input data file cannot be read or does not make sense as time series."""


class CheckpointError(GrucastError):
    """A checkpoint file is missing, damaged, foreign or from an incompatible version."""
