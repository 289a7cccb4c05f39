"""Errors every stage reports the same way: one message, non-zero exit, no traceback."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable


class PipelineError(Exception):
    """A problem the user can fix (bad params, bad data); shown without a traceback."""


class ParamsError(PipelineError):
    """params.yaml (or a profile) has an unknown key, a wrong type or a value out of range."""


class DataError(PipelineError):
    """A data source or prepared file is missing, corrupt, mislaid out or has the wrong checksum."""


class TrainingError(PipelineError):
    """Training diverged (NaN/inf loss) or could not produce a model worth saving."""


EXIT_USER_ERROR = 2


def stage_main(func: Callable[..., None]) -> Callable[..., None]:
    """Wrap a stage's ``main`` so a PipelineError becomes ``error: ...`` and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PipelineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)

    return wrapper
