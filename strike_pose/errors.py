"""The one error type for mistakes a user can make (bad file, bad value, missing weights, no GL), and the
one warning type for inputs that are used anyway (a mesh without texture coordinates renders untextured);
also `existing_file`, the one check that a path given by the user is a file that can be read.

An error's message says what was wrong and what to do; the CLI prints it on one line and exits 2. A
warning prints as one line `warning: ...` on stderr.
"""

from __future__ import annotations

import warnings
from pathlib import Path

MAX_MESSAGE = 1000  # characters: a message longer than this is shortened in the middle


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` on one line: control characters (newlines from a file name or a library's message, NUL,
    ...) escaped, and a message longer than `limit` cut in the middle, so its end (what to do) stays."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    if len(text) > limit:
        keep = (limit - 5) // 2
        text = f"{text[:keep]} ... {text[-keep:]}"
    return text


def shown(value, limit: int = 80) -> str:
    """repr(value) for a message, cut short when long (a value from a file can be megabytes)."""
    try:
        text = repr(value)
    except ValueError:  # an integer with more digits than Python prints
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits" if isinstance(value, int) else "?"
    return text if len(text) <= limit else f"{text[:limit - 4]} ..."


class StrikePoseError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""

    def __str__(self) -> str:
        return one_line(super().__str__())


def existing_file(path: str | Path, what: str, hint: str) -> Path:
    """`path` if it is a readable file; else a StrikePoseError naming `what` (e.g. "texture") and the path."""
    path = Path(path)
    try:
        if path.is_dir():
            raise StrikePoseError(f"{what} {path} is a folder; {hint}")
        if path.is_file():
            return path
        if path.exists():  # a device or a pipe: reading it could block or never end
            raise StrikePoseError(f"{what} {path} is not a regular file; {hint}")
    except OSError as exc:  # e.g. a name too long for the file system
        raise StrikePoseError(f"{what} path {path} cannot be used ({exc.strerror or exc}); {hint}") from None
    raise StrikePoseError(f"{what} file not found: {path}; {hint}")


class StrikePoseWarning(UserWarning):
    """An input that is used anyway, with a one-line note of what it lacks (printed `warning: ...`)."""


def warn(message: str) -> None:
    """Issue a StrikePoseWarning (shown once per message, as one line `warning: ...`)."""
    warnings.warn(one_line(message), StrikePoseWarning, stacklevel=2)


_plain_formatwarning = warnings.formatwarning


def _formatwarning(message, category, filename, lineno, line=None):
    if isinstance(category, type) and issubclass(category, StrikePoseWarning):
        return f"warning: {message}\n"
    return _plain_formatwarning(message, category, filename, lineno, line)


if getattr(warnings.formatwarning, "__module__", None) != __name__:
    warnings.formatwarning = _formatwarning
