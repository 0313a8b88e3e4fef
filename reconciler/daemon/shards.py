"""``reconciler run --shard K/N``: split a fleet between N daemons, one DynamoDB lease a shard.

A service belongs to shard ``sha256(name) mod N`` (shown 1-based): stable across restarts,
hosts and Python versions, and independent of the order of the desired files. Each daemon
holds its home shard K's lease and also contends, every renewal, for the leases of the other
shards, which it can win only once their holder stopped renewing and they expired (the lease's
own conditional write), or, never held at all, once their daemon had a lease duration to
start. So when a peer dies, a survivor takes its shard over within the lease duration plus one
renewal period, and reconciles it alongside its own.

When the home daemon comes back, it marks its shard's lease ``wanted``; the taker's next
renewal then fails (its condition requires no ``wanted``), it stops writing that shard at once
and deletes the lease, and the home daemon acquires it on its next try. A daemon computes and
writes only the services of the shards it holds; the others are its peers' to report.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler import errors
from reconciler.aws import Aws
from reconciler.daemon.lease import Lease

_SHARD = re.compile(r"(\d+)/(\d+)")
MAX_SHARDS = 64  # a lease each, contended every renewal: more would be a different design


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # 1-based, as written on the command line
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``--shard K/N``: 1 ≤ K ≤ N ≤ ``MAX_SHARDS``."""
    found = _SHARD.fullmatch(text.strip())
    if found is None:
        raise errors.UsageError(f"--shard {text!r}: use K/N, e.g. 1/3 (this daemon's shard of N)")
    index, count = int(found.group(1)), int(found.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise errors.UsageError(f"--shard {text!r}: N must be 1 to {MAX_SHARDS}, got {count}")
    if not 1 <= index <= count:
        raise errors.UsageError(f"--shard {text!r}: K must be 1 to N ({count}), got {index}")
    return Shard(index, count)


def shard_of(service: str, count: int) -> int:
    """The 1-based shard a service belongs to among ``count``."""
    digest = hashlib.sha256(service.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def lease_name(owner: str, shard: int, count: int) -> str:
    return f"{owner}/shard-{shard}-of-{count}"


class ShardLeases:
    """The N shard leases, seen by the daemon as one lease: held while any shard is held."""

    def __init__(
        self,
        home: Shard,
        make: Callable[[int], Lease],
        *,
        aws: Aws,
        renew_every: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.home = home
        self.aws = aws
        self.renew_every = renew_every
        self.leases = {k: make(k) for k in range(1, home.count + 1)}
        self.holder = self.leases[home.index].holder
        self._home_since: float | None = None  # when the home shard was first held
        self._monotonic = monotonic

    @property
    def leader(self) -> str | None:
        """Who holds the home shard, as last seen."""
        return self.leases[self.home.index].leader

    def ensure(self) -> bool:
        """Keep the home shard (asking a taker to hand it back), contend for expired others."""
        home = self.leases[self.home.index]
        if home.ensure():
            self._home_since = self._home_since or self._monotonic()
        else:
            home.ask_back()
        # A shard never held (its daemon not started yet) is left to its home daemon for one
        # lease duration after this one first held its own: peers started together keep theirs.
        since = self._home_since
        grace_over = since is not None and self._monotonic() - since >= home.duration
        for index, lease in self.leases.items():
            if index != self.home.index:
                lease.takes_absent = grace_over
                lease.ensure()
        return self.held()

    def held(self) -> bool:
        return any(lease.held() for lease in self.leases.values())

    def held_shards(self) -> list[int]:
        return [k for k, lease in self.leases.items() if lease.held()]

    def owns(self, service: str) -> bool:
        """Whether this daemon may compute and write ``service`` now."""
        lease = self.leases[shard_of(service, self.home.count)]
        return lease.held()

    def release(self) -> None:
        for lease in self.leases.values():
            lease.release()
