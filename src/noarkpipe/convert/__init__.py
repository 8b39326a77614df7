"""Conversion to archival formats: identify a document's format, make and verify its PDF/A copy.

The stage's entry point is `archival_copy`; `convert_document` is the same
as a unit of work an executor can run elsewhere (`ConversionJob` in,
`ConversionOutcome` out). `identify` and `verify_pdfa` are also used on
their own (validation of deposits, re-checks).
"""

from noarkpipe.convert.job import ConversionJob, ConversionOutcome, convert_document, previous_outcome
from noarkpipe.convert.options import ConversionOptions, PdfaProfile
from noarkpipe.convert.pdfa import ConversionResult, archival_copy, is_email_body, plan
from noarkpipe.convert.steps import ToolVersion
from noarkpipe.errors import ConversionError
from noarkpipe.files.identify import FormatId, identifier_version, identify
from noarkpipe.files.verify import Check, VerificationReport, verify_pdfa

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
