"""argparse ``type=`` checks: every flag's value is refused at parse time, with what is allowed.

A check raises ``argparse.ArgumentTypeError``; argparse names the flag, and the parser turns it
into a usage error (exit 2). argparse also runs a check on a string default, so a value that
comes from the environment (``RECONCILER_OWNER``, ``RECONCILER_INTERVAL``...) is checked the
same way as one typed on the command line.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from reconciler import errors

# AWS tag values: up to 256 Unicode letters, digits, white space and _ . : / = + - @
# (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions).
_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]{1,256}$")
# DynamoDB table names: 3-255 of a-z A-Z 0-9 _ - .
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html).
_TABLE = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of {what}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: {what} must be a finite number")
    return value


def positive_seconds(text: str) -> float:
    """``--timeout``, ``--poll``: seconds, more than 0."""
    value = _number(text, "seconds")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: seconds must be more than 0")
    return value


def speed(text: str) -> float:
    """``sandbox --speed``: sandbox seconds per wall second, more than 0 (at 0 time stands still
    and nothing outside a test can move it)."""
    value = _number(text, "sandbox seconds per second")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the speed must be more than 0, e.g. 1 or 60")
    return value


def rate(text: str) -> float:
    """``sandbox --traffic``: requests per second, 0 or more."""
    value = _number(text, "requests per second")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: requests per second must be 0 or more")
    return value


def port(text: str) -> int:
    """A TCP port, 1-65535 (0 would let the system pick one nobody knows)."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is a whole number from 1 to 65535")
    return int(text)


def owner(text: str) -> str:
    """``--owner``: the value of the owner tag on every managed resource, so an AWS tag value."""
    if not _TAG_VALUE.match(text) or not text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r}: the owner is a tag value: 1-256 letters, digits, spaces and _ . : / = + - @"
        )
    return text


def log_level(text: str) -> str:
    from reconciler.cli.logs import LEVELS

    if text.lower() not in LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r}: use one of {', '.join(LEVELS)}")
    return text.lower()


def region(text: str) -> str:
    if not _REGION.match(text):
        raise argparse.ArgumentTypeError(f"{text!r}: use an AWS region name, e.g. us-east-1")
    return text


def http_url(text: str) -> str:
    """``--endpoint-url``, ``--external-url``, ``--github-api-url``: http(s)://HOST[:PORT]..."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - parsing the port is the check: "host:99999" raises
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use an http(s) URL, e.g. http://127.0.0.1:4566"
        )
    return text


def lease_table(text: str) -> str:
    if not _TABLE.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a DynamoDB table name is 3-255 of letters, digits, _ - ."
        )
    return text


def from_usage(check: Callable[[str], object]) -> Callable[[str], str]:
    """A parser of ours that raises ``UsageError`` (``--interval``, ``--listen``), as a check
    that returns the text unchanged, so the command parses it again where it is used."""

    def checked(text: str) -> str:
        try:
            check(text)
        except errors.UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return text

    checked.__name__ = getattr(check, "__name__", "value")
    return checked
