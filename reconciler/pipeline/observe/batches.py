"""Describes that take a list of names, cut into AWS's per-call limits and read page by page."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.aws import Aws


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


@dataclass(frozen=True)
class BatchedDescribe:
    """One paginated describe by name: at most ``per_call`` names a call, records in ``member``."""

    service: str
    operation: str
    per_call: int
    page_size: int
    member: str
    request: Callable[[list[str]], Mapping[str, Any]]  # the parameters that name a batch

    def records(self, aws: Aws, region: str, names: Iterable[str]) -> Iterator[Mapping[str, Any]]:
        for chunk in chunks(sorted(set(names)), self.per_call):
            for page in aws.pages(
                self.service,
                self.operation,
                region=region,
                PaginationConfig={"PageSize": self.page_size},
                **self.request(chunk),
            ):
                yield from page.get(self.member, [])
