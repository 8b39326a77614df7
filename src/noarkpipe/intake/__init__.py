"""Intake: what reaches the post room becomes one or more `Submission`s.

Every source adapter is a function `parse_<kind>(path, context) -> list[Submission]`
over a file already claimed into the work area. It reads only that file (and
what it contains), writes only below `context.scratch`, never touches the
network, and raises `InputFileError` with a reason a person can act on for
anything it cannot take in; the nightly run then quarantines the file.
"""

from noarkpipe.core.context import IntakeContext, IntakeLimits
from noarkpipe.core.submission import DocumentRole, Party, Source, Submission, SubmissionDocument

__all__ = [
    "DocumentRole",
    "IntakeContext",
    "IntakeLimits",
    "Party",
    "Source",
    "Submission",
    "SubmissionDocument",
]
