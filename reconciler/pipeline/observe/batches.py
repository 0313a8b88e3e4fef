"""Describes that take a list of names, cut into AWS's per-call limits and read page by page.

Each caller writes its own ``aws.pages(...)`` call with the service and operation spelled out:
the IAM policy test finds the operations the reconciler calls by reading those calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

Pages = Iterable[Mapping[str, Any]]


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def batched(
    names: Iterable[str], per_call: int, read: Callable[[list[str]], Pages], *, member: str
) -> Iterator[Mapping[str, Any]]:
    """The records under ``member`` that ``read`` returns for ``names``, ``per_call`` at a time."""
    for chunk in chunks(sorted(set(names)), per_call):
        for page in read(chunk):
            yield from page.get(member, [])
