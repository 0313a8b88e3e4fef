"""A leader lease in DynamoDB, so several daemons can run and only one of them writes to AWS.

One item per lease name (the owner id) in a table keyed by ``lease`` (string)::

    {"lease": "asg-reconciler", "holder": "ops-1-4242-9f3a1c0e", "expires": 1732780000.5}

- acquire: PutItem if the item is absent, expired, or already ours;
- renew:   UpdateItem of ``expires`` if the item is ours;
- release: DeleteItem if the item is ours (a clean shutdown hands over at once);
- takeover happens through acquire once the holder stopped renewing and ``expires`` passed.

Every write is a conditional write, so two daemons can never both believe they acquired. A
holder stops writing ``SAFETY`` of the duration before the lease expires by its own monotonic
clock: that margin absorbs clock skew between hosts (``expires`` is wall-clock time, compared
against the taker's clock) and the time a pass of writes takes.

IAM: dynamodb:PutItem, UpdateItem, DeleteItem and GetItem on the table; CreateTable and
DescribeTable on it too when the daemon should create the table on first use.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from reconciler import errors
from reconciler.aws import Aws

log = structlog.get_logger("reconciler.daemon.lease")

SAFETY = 0.2  # fraction of the duration before expiry at which a holder stops writing
_KEY = "lease"
_CONDITION_FAILED = "ConditionalCheckFailedException"
_NO_TABLE = "ResourceNotFoundException"
_NAMES = {"#lease": _KEY, "#holder": "holder", "#expires": "expires"}
_YIELDING_NAMES = {**_NAMES, "#wanted": "wanted"}


def holder_id() -> str:
    """hostname + pid + random: unique even for two daemons started in one container image."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


class Lease:
    """A conditional-write lease: ``ensure()`` every few seconds, ``held()`` before each write."""

    def __init__(
        self,
        *,
        aws: Aws,
        table: str,
        name: str,
        holder: str | None = None,
        duration: float = 30.0,
        renew_every: float = 10.0,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        create_table: bool = True,
        yields: bool = False,
    ) -> None:
        if renew_every >= duration * (1 - SAFETY):
            raise errors.UsageError("the lease must be renewed well before it expires")
        self.aws = aws
        self.table = table
        self.name = name
        self.holder = holder or holder_id()
        self.duration = duration
        self.renew_every = renew_every
        self._wall = wall_clock
        self._mono = monotonic
        self._create_table = create_table
        # A shard's lease held for a dead peer (``daemon.shards``): handed back when its home
        # daemon marks it ``wanted``.
        self.yields = yields
        self.takes_absent = not yields  # ShardLeases allows it after a startup grace
        self._valid_until = 0.0  # monotonic; 0 = not held
        self._lock = threading.Lock()
        self.leader: str | None = None  # the holder as last seen; None when unknown

    # -- state -------------------------------------------------------------------------------

    def held(self) -> bool:
        """Whether this instance may write now."""
        with self._lock:
            return self._mono() < self._valid_until

    # -- operations --------------------------------------------------------------------------

    def ensure(self) -> bool:
        """Renew when held, else try to acquire. Never raises: AWS trouble means not leading."""
        try:
            if self.held():
                if self.renew():
                    return True
                if self.yields:  # wanted back, or taken: either way not ours to take again
                    self._delete()
                    return False
            return self.acquire()
        except errors.ReconcilerError as exc:
            log.warning("lease_error", table=self.table, lease=self.name, error=str(exc))
            return self.held()

    def acquire(self) -> bool:
        started = self._mono()
        now = self._wall()
        condition = self._acquire_condition()
        try:
            self._write(
                "put_item",
                Item={
                    _KEY: {"S": self.name},
                    "holder": {"S": self.holder},
                    "expires": {"N": f"{now + self.duration:.3f}"},
                },
                ConditionExpression=condition,
                # DynamoDB refuses a name the expression does not use (ValidationException).
                ExpressionAttributeNames={
                    k: v for k, v in _YIELDING_NAMES.items() if k in condition
                },
                ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}, ":me": {"S": self.holder}},
            )
        except errors.AwsApiError as exc:
            if exc.code != _CONDITION_FAILED:
                raise
            self._lost(reason="held by another instance")
            self.leader = self._current_holder()
            return False
        return self._won(started, event="lease_acquired")

    def renew(self) -> bool:
        started = self._mono()
        try:
            self._write(
                "update_item",
                Key={_KEY: {"S": self.name}},
                UpdateExpression="SET #expires = :expires",
                ConditionExpression="#holder = :me"
                + (" AND attribute_not_exists(#wanted)" if self.yields else ""),
                ExpressionAttributeNames={
                    "#holder": "holder",
                    "#expires": "expires",
                    **({"#wanted": "wanted"} if self.yields else {}),
                },
                ExpressionAttributeValues={
                    ":expires": {"N": f"{self._wall() + self.duration:.3f}"},
                    ":me": {"S": self.holder},
                },
            )
        except errors.AwsApiError as exc:
            if exc.code != _CONDITION_FAILED:
                raise
            self._lost(reason="taken over")
            return False
        return self._won(started, event=None)

    def release(self) -> None:
        """Give the lease up now, so a standby takes over without waiting for expiry."""
        with self._lock:
            was_held = self._valid_until > 0
            self._valid_until = 0.0
        if was_held:
            self._delete()

    def _acquire_condition(self) -> str:
        if not self.yields:
            return "attribute_not_exists(#lease) OR #expires < :now OR #holder = :me"
        # Someone else's shard: only once it expired (its holder died), or absent once the
        # home daemon had a lease duration to start (``takes_absent``); never while wanted.
        absent = "attribute_not_exists(#lease) OR " if self.takes_absent else ""
        return f"{absent}#expires < :now OR (#holder = :me AND attribute_not_exists(#wanted))"

    def ask_back(self) -> None:
        """Mark the lease ``wanted`` by this holder while another holds it (a shard's home
        daemon, back after a takeover); a yielding holder hands it over on its next renewal."""
        now = self._wall()
        try:
            self.aws.call(
                "dynamodb",
                "update_item",
                resource=self.table,
                TableName=self.table,
                Key={_KEY: {"S": self.name}},
                UpdateExpression="SET #wanted = :me",
                ConditionExpression=(
                    "attribute_exists(#lease) AND #holder <> :me AND #expires >= :now"
                ),
                ExpressionAttributeNames={
                    "#lease": _KEY,
                    "#holder": "holder",
                    "#expires": "expires",
                    "#wanted": "wanted",
                },
                ExpressionAttributeValues={":me": {"S": self.holder}, ":now": {"N": f"{now:.3f}"}},
            )
        except errors.ReconcilerError as exc:  # expired or gone meanwhile: acquire will do
            if not isinstance(exc, errors.AwsApiError) or exc.code != _CONDITION_FAILED:
                log.warning(
                    "lease_ask_back_failed", table=self.table, lease=self.name, error=str(exc)
                )

    def _delete(self) -> None:
        try:
            self.aws.call(
                "dynamodb",
                "delete_item",
                resource=self.table,
                TableName=self.table,
                Key={_KEY: {"S": self.name}},
                ConditionExpression="#holder = :me",
                ExpressionAttributeNames={"#holder": "holder"},
                ExpressionAttributeValues={":me": {"S": self.holder}},
            )
            log.info("lease_released", table=self.table, lease=self.name, holder=self.holder)
        except errors.ReconcilerError as exc:  # it expires on its own
            log.warning("lease_release_failed", table=self.table, error=str(exc))

    # -- helpers -----------------------------------------------------------------------------

    def _won(self, started: float, *, event: str | None) -> bool:
        # Counted from before the request: the item may have been written at its very start.
        with self._lock:
            was_held = self._mono() < self._valid_until
            self._valid_until = started + self.duration * (1 - SAFETY)
        self.leader = self.holder
        if event and not was_held:
            log.info(event, table=self.table, lease=self.name, holder=self.holder)
        return True

    def _lost(self, *, reason: str) -> None:
        with self._lock:
            was_held = self._valid_until > 0
            self._valid_until = 0.0
        if was_held:
            log.warning("lease_lost", table=self.table, lease=self.name, reason=reason)

    def _current_holder(self) -> str | None:
        try:
            item = self.aws.call(
                "dynamodb",
                "get_item",
                resource=self.table,
                TableName=self.table,
                Key={_KEY: {"S": self.name}},
                ConsistentRead=True,
            ).get("Item")
        except errors.ReconcilerError:
            return None
        return str(item["holder"]["S"]) if item and "holder" in item else None

    def _write(self, operation: str, **params: Any) -> None:
        try:
            self.aws.call(
                "dynamodb", operation, resource=self.table, TableName=self.table, **params
            )
        except errors.AwsApiError as exc:
            if exc.code != _NO_TABLE or not self._create_table:
                raise
            self._create()
            self.aws.call(
                "dynamodb", operation, resource=self.table, TableName=self.table, **params
            )

    def _create(self) -> None:
        try:
            self.aws.call(
                "dynamodb",
                "create_table",
                resource=self.table,
                TableName=self.table,
                KeySchema=[{"AttributeName": _KEY, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": _KEY, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            log.info("lease_table_created", table=self.table)
        except errors.AwsApiError as exc:
            if exc.code != "ResourceInUseException":  # another daemon created it first
                raise
        self._wait_active()

    def _wait_active(self, *, timeout: float = 60.0) -> None:
        deadline = self._mono() + timeout
        while True:
            table = self.aws.call("dynamodb", "describe_table", TableName=self.table)["Table"]
            if table.get("TableStatus") == "ACTIVE":
                return
            if self._mono() > deadline:
                raise errors.TemporaryError(f"lease table {self.table} is not active yet")
            time.sleep(1.0)
