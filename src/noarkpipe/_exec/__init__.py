"""Wrappers for the external programs noarkpipe runs: one module per program, one probe for all (`probe.py`)."""
