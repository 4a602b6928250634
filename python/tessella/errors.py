"""The exception for problems with the user's input.

Code that checks what a user passed raises :class:`InputError`; the boundaries
(the CLI, the R bridge) turn it, and file-not-found, into one line of advice.
Any other exception is a bug: it keeps its traceback and asks to be reported.
"""

from __future__ import annotations


class InputError(ValueError):
    """A ``ValueError`` about the user's input, with the fix worded for R as well.

    ``str(err)`` gives the fix in Python terms (AnnData, numpy); ``r_message``
    the same problem with the fix in R terms (``assay =``, ``subset()``), which
    the R package shows (see ``tessella.parts.run_parts``).
    """

    def __init__(self, message: str, r_message: str | None = None) -> None:
        super().__init__(message)
        self.r_message = r_message or message
