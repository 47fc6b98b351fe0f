"""Retry policy: how long to wait before asking again.

Exponential backoff with full jitter (Brooker, "Exponential Backoff And
Jitter", AWS Architecture Blog, 2015) spreads retries of many concurrent calls
apart; a server's ``Retry-After`` (seconds, HTTP date, or OpenAI's
``retry-after-ms``) is honoured as a lower bound.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    Args:
        headers: Response headers (case-insensitive mapping).
        now: Current Unix time (for HTTP dates); default ``time.time()``.

    Returns:
        Non-negative seconds, or ``None`` when no usable header is present.
    """
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(retry: int, base_s: float, max_s: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before retry number ``retry`` (1-based).

    Full jitter: uniform in ``[0, min(max_s, base_s * 2**(retry-1))]``; a
    server's ``Retry-After`` is a lower bound (capped at ``max_s``).
    """
    jitter = rng.uniform(0.0, min(max_s, base_s * 2 ** (retry - 1)))
    if retry_after is None:
        return jitter
    return max(min(retry_after, max_s), jitter)
