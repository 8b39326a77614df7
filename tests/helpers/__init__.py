"""Helpers the tests import as a package: fakes of external programs, factories of test data."""
