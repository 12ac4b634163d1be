"""ftscale's own exception types for bad input: every room raises them, `ftscale` prints them as one line.

This package imports nothing (no torch, no other room), so any room, `scaling_laws/` included, can raise them
without an import cycle.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input (a config value, command-line option, spec field, data file, path or store URL).

    Its message is one line naming the option, field or file and what would be valid; `ftscale` prints it as
    `error: <message>` and exits with code 2 (`FTSCALE_DEBUG=1` shows the traceback). Anything else that escapes a
    command is a bug (or the machine's trouble) and keeps its traceback.
    """


class MissingFileError(InputError, FileNotFoundError):
    """A file or directory the user named does not exist (still a `FileNotFoundError` for callers that catch it)."""


__all__ = ["InputError", "MissingFileError"]
