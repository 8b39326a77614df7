"""noarkpipe: nightly intake, Noark 5 journaling, depot export and validation."""

__version__ = "0.1.0"
