"""noarkpipe: nightly intake, Noark 5 journaling, depot export and validation.

Every error noarkpipe raises is a `NoarkpipeError` with its exit code (`ExitCode`), defined in
`noarkpipe.errors` and importable from here.
"""

from noarkpipe.errors import (
    AlreadyRunningError,
    ArkivmeldingRefused,
    ConfigError,
    ConversionError,
    EmptyPublicJournalError,
    ExitCode,
    ExportRefusedError,
    InputFileError,
    InvalidOutputError,
    MailError,
    MissingDependencyError,
    ModelFileError,
    NoarkpipeError,
    PdfaNotApprovedError,
    PeriodError,
    PublicJournalLeakError,
    ReviewError,
    SandboxError,
    SchemaValidationError,
    SourceUnavailableError,
    StoreError,
    TrainingError,
    UnreadableMessage,
)

__version__ = "0.1.0"

__all__ = [
    "AlreadyRunningError",
    "ArkivmeldingRefused",
    "ConfigError",
    "ConversionError",
    "EmptyPublicJournalError",
    "ExitCode",
    "ExportRefusedError",
    "InputFileError",
    "InvalidOutputError",
    "MailError",
    "MissingDependencyError",
    "ModelFileError",
    "NoarkpipeError",
    "PdfaNotApprovedError",
    "PeriodError",
    "PublicJournalLeakError",
    "ReviewError",
    "SandboxError",
    "SchemaValidationError",
    "SourceUnavailableError",
    "StoreError",
    "TrainingError",
    "UnreadableMessage",
    "__version__",
]
