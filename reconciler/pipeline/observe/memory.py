"""What the Observer remembers between ticks for things that change only rarely by hand.

Entries are keyed by (region, name), since one Observer serves every region. Each store has its
own lock: ``apply`` reports writes from the threads that make them, while a tick reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

E = TypeVar("E")
V = TypeVar("V")
Key = tuple[str, str]  # (region, resource name or ARN)


@dataclass
class RegionStore(Generic[E]):
    """Entries by (region, name), under one lock."""

    _entries: dict[Key, E] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __len__(self) -> int:
        return len(self._entries)

    def keep_only(self, region: str, names: Collection[str]) -> None:
        """Drop the entries of ``region`` not named in ``names`` (a service left the files)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == region and k[1] not in names]:
                del self._entries[key]


@dataclass
class _Expiring(Generic[V]):
    value: V
    fetched_at: float


@dataclass
class ExpiringCache(RegionStore[_Expiring[V]]):
    """Values read from AWS, reused until ``ttl`` seconds old or dropped by one of our writes."""

    def values(
        self,
        region: str,
        keys: Sequence[str],
        *,
        now: float,
        ttl: float,
        fetch: Callable[[list[str]], Mapping[str, V]],
        absent: Callable[[], V],
    ) -> dict[str, V]:
        """The value of each of ``keys``: fetched for the stale ones, ``absent()`` if not found."""
        with self._lock:
            stale = [k for k in keys if not self._fresh((region, k), now, ttl)]
        fetched = fetch(stale)
        with self._lock:
            for key in stale:
                value = fetched[key] if key in fetched else absent()
                self._entries[(region, key)] = _Expiring(value, now)
            return {key: self._entries[(region, key)].value for key in keys}

    def drop(self, region: str, key: str) -> None:
        with self._lock:
            self._entries.pop((region, key), None)

    def _fresh(self, key: Key, now: float, ttl: float) -> bool:
        entry = self._entries.get(key)
        return entry is not None and now - entry.fetched_at < ttl
