"""The one place noarkpipe reads the time, so timestamps are consistent (UTC, aware)."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
