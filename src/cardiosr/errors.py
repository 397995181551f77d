"""Exceptions raised by cardiosr.

The library never prints or exits. Problems that the user can fix (a bad file, an unknown label value,
an option that does not fit the data) raise :class:`InputError` with a one-line message that names the
file and the problem; the command-line interface turns it into exit code 2.
"""

from __future__ import annotations


class InputError(ValueError):
    """A problem with the user's input, described in one line.

    Parameters
    ----------
    message:
        What is wrong, in one line.
    path:
        The file the problem is about, if any; it is prefixed to the message.

    Examples
    --------
    >>> str(InputError("unknown label values [7]", path="sa.nii.gz"))
    'sa.nii.gz: unknown label values [7]'
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        self.path = None if path is None else str(path)
        self.problem = " ".join(str(message).split())  # always one line
        super().__init__(self.problem if self.path is None else f"{self.path}: {self.problem}")


class GeometryWarning(UserWarning):
    """The input's geometry was suspicious and cardiosr followed the anatomy instead (see the message)."""


class InputWarning(UserWarning):
    """Something about an input file that the user should know (a header that contradicts itself, a slice axis
    chosen from the labels, a gap in the stack, ...); cardiosr went on and says what it did."""
