"""Retry-After as providers send it: seconds, or an HTTP date; anything else is a short
default wait. (The waits themselves, bounded, are tested against the proxy in test_l2.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from laas.anchors.adapters.rpc import _retry_after


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert _retry_after("3", 0.25) == 3.0
    assert _retry_after("-1", 0.25) == 0.0
    assert _retry_after(None, 0.25) == 0.25
    assert _retry_after("soon", 0.25) == 0.25
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= _retry_after(later, 0.25) <= 30
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 0.25) == 0.0  # already past
