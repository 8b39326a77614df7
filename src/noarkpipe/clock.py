"""The one place noarkpipe reads the time and names its zone.

Timestamps are stored and compared in UTC (aware); what people read (journal
dates, a scan batch's date, an e-mail's received time) is Norwegian local
time, `LOCAL_TIME`, including its summer-time switch.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LOCAL_TIME = ZoneInfo("Europe/Oslo")


def utcnow() -> datetime:
    return datetime.now(UTC)
