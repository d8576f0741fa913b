"""Polling with a deadline (tenacity), instead of sleeping and hoping."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

T = TypeVar("T")


class Timeout(Exception):
    """The condition did not hold before the deadline; `last` is the last value seen."""

    def __init__(self, last: object):
        super().__init__("deadline passed")
        self.last = last


def poll(check: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Call `check` until it returns something other than None, or raise Timeout.

    `check` may raise to fail fast (e.g. a container that exited will never become healthy).
    """
    retrying = Retrying(
        stop=stop_after_delay(timeout), wait=wait_fixed(interval), retry=retry_if_result(lambda v: v is None)
    )
    try:
        return retrying(check)
    except RetryError as exc:
        raise Timeout(exc.last_attempt.result() if not exc.last_attempt.failed else None) from None
