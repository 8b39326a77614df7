"""Conversion to archival formats: identify a document's format, make and verify its PDF/A copy.

The stage's entry point is `archival_copy`; `convert_document` is the same
as a unit of work an executor can run elsewhere (`ConversionJob` in,
`ConversionOutcome` out). `identify` and `verify_pdfa` are also used on
their own (validation of deposits, re-checks).

Importing the package loads only the jobs, their outcomes and the options
(`job.py`): the nightly run's own process hands out jobs and reads their
outcomes, and must not pay for the converters' libraries it never calls.
The converters and the identification are imported at their first use
through this package (`archival_copy`, `plan`, `identify`, `verify_pdfa`, ...).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from noarkpipe.convert.job import (
    ConversionJob,
    ConversionOutcome,
    ConversionResult,
    convert_document,
    is_email_body,
    previous_outcome,
)
from noarkpipe.convert.options import ConversionOptions, PdfaProfile
from noarkpipe.convert.steps import ToolVersion
from noarkpipe.errors import ConversionError
from noarkpipe.files.results import Check, FormatId, VerificationReport

if TYPE_CHECKING:
    from noarkpipe.convert.pdfa import archival_copy, plan
    from noarkpipe.files.identify import identifier_version, identify
    from noarkpipe.files.verify import verify_pdfa

_LOADED_AT_FIRST_USE = {
    "archival_copy": "noarkpipe.convert.pdfa",
    "plan": "noarkpipe.convert.pdfa",
    "identifier_version": "noarkpipe.files.identify",
    "identify": "noarkpipe.files.identify",
    "verify_pdfa": "noarkpipe.files.verify",
}

__all__ = [
    "Check",
    "ConversionError",
    "ConversionJob",
    "ConversionOptions",
    "ConversionOutcome",
    "ConversionResult",
    "FormatId",
    "PdfaProfile",
    "ToolVersion",
    "VerificationReport",
    "archival_copy",
    "convert_document",
    "identifier_version",
    "identify",
    "is_email_body",
    "plan",
    "previous_outcome",
    "verify_pdfa",
]


def __getattr__(name: str) -> Any:
    module = _LOADED_AT_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found directly from now on
    return value
