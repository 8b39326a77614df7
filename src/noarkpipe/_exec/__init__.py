"""Wrappers for the external programs noarkpipe runs: one module per program."""
