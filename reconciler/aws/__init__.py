"""The only package that builds boto3 clients. Everything else calls AWS through ``Aws.call``.

Keeping boto3 here gives one place for endpoint and retry configuration (botocore's adaptive
mode, ``RETRIES``), one place that turns botocore's exceptions into the reconciler's
(errors.AwsThrottled / errors.AwsRateLimited / errors.AwsApiError), one place that counts calls
through botocore's event hooks (for metrics, tests and benchmarks), one place where every write
waits for the write budget (``budget``), and one place that reaches another account
(``Aws.assumed``: STS AssumeRole, ``credentials``).
"""

from __future__ import annotations

import contextlib
import email.utils
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from reconciler import errors
from reconciler.aws import credentials
from reconciler.aws.budget import WriteBudget
from reconciler.model import AwsAccess

# AWS's "slow down" codes: after botocore's retries these are AwsRateLimited, counted by family.
_THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
    }
)
# ... and for its own transient failures: retried on a later pass.
_TRANSIENT_CODES = _THROTTLE_CODES | {
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
}
_READ_PREFIXES = ("Describe", "List", "Get", "BatchGet")
# botocore's adaptive mode: standard retries (exponential backoff with jitter, throttles and
# transient errors retried) plus a client-side rate limiter that slows a client down once AWS
# throttles it. One client per (account, region, service), so each limiter follows one of AWS's
# buckets ("Retry behavior", AWS SDKs and Tools reference guide).
RETRY_MODE = "adaptive"
MAX_ATTEMPTS = 4

CallHook = Callable[[str, str], None]
# (AWS service, operation in CamelCase, error code): for an error counter by code.
ErrorHook = Callable[[str, str, str], None]
# (account, region, API family, operation): AWS throttled a call past the retries, or the write
# budget held a write longer than it may wait.
ThrottleHook = Callable[[str, str, str, str], None]


class Aws:
    """boto3 clients for one account, any region, with call counting and error translation.

    ``assumed(access)`` is the same for the account of a role: its own clients, signing with
    the role's credentials, sharing this one's counters, hooks and write budget."""

    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        budget: WriteBudget | None = None,
        credentials_clock: credentials.Clock = credentials.local_now,
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self.access = AwsAccess()
        self._config = botocore.config.Config(
            retries={"mode": RETRY_MODE, "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._session = boto3.session.Session()
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()  # logical API calls, by operation name
        self.requests: Counter[str] = Counter()  # HTTP requests sent, retries included
        self._hooks: list[CallHook] = []
        self._error_hooks: list[ErrorHook] = []
        self._throttle_hooks: list[ThrottleHook] = []
        self.budget = budget or WriteBudget()
        self._credentials_clock = credentials_clock
        self._assumed: dict[tuple[str, str | None], Aws] = {}
        self._server_time: float | None = None
        self._date: str | None = None  # the latest response's Date, not yet parsed

    # -- accounts ----------------------------------------------------------------------------

    def assumed(self, access: AwsAccess) -> Aws:
        """The ``Aws`` of ``access``'s account: this one for the reconciler's own credentials,
        else one per (role, external id), made once, whose credentials AssumeRole fetches on
        first use and refreshes before they expire (``credentials``)."""
        if access.role_arn is None:
            return self
        key = (access.role_arn, access.external_id)
        with self._lock:
            child = self._assumed.get(key)
            if child is None:
                child = self._assumed[key] = self._child(access)
            return child

    def _child(self, access: AwsAccess) -> Aws:
        child = Aws.__new__(Aws)
        child.__dict__.update(self.__dict__)  # counters, hooks and budget are shared objects
        child.access = access
        child._clients = {}
        child._lock = threading.Lock()
        child._assumed = {}
        child._server_time = child._date = None
        role = access.role_arn or ""

        def assume(**params: Any) -> dict[str, Any]:
            try:
                return self.call("sts", "assume_role", **params)
            except errors.AwsApiError as exc:  # named as every error of the account is
                raise errors.AwsApiError(
                    operation=exc.operation,
                    code=exc.code,
                    message=exc.message,
                    identity=child.identity(),
                ) from None

        session = credentials.session_for(
            role_arn=role,
            external_id=access.external_id,
            assume=assume,
            clock=self._credentials_clock,
        )
        child._session = boto3.session.Session(botocore_session=session)
        return child

    @property
    def account(self) -> str:
        return self.access.account

    def identity(self) -> str:
        """Who the calls are made as, for error messages: "" for the reconciler's own."""
        if self.access.role_arn is None:
            return ""
        return f"account {self.access.account}, role {self.access.role_arn}"

    # -- counting ----------------------------------------------------------------------------

    def on_call(self, hook: CallHook) -> None:
        """Call ``hook(service, operation)`` before every API call (for metrics)."""
        self._hooks.append(hook)

    def on_error(self, hook: ErrorHook) -> None:
        """Call ``hook(service, operation, code)`` for every failed API call, after botocore's
        own retries: ``code`` is AWS's error code, or the botocore exception's class name when
        no answer came (a connection or parameter error)."""
        self._error_hooks.append(hook)

    def on_throttle(self, hook: ThrottleHook) -> None:
        """Call ``hook(account, region, family, operation)`` for every call throttled past the
        retries (AWS's "slow down") or held by the write budget past its longest wait."""
        self._throttle_hooks.append(hook)

    def writes(self) -> Counter[str]:
        return Counter({op: n for op, n in self.calls.items() if not is_read(op)})

    def reset_counts(self) -> None:
        self.calls.clear()
        self.requests.clear()

    def _count_call(self, model: Any, **_: Any) -> None:
        name = str(model.name)
        self.calls[name] += 1
        service = str(model.service_model.service_name)
        for hook in self._hooks:
            hook(service, name)

    def _count_request(self, event_name: str = "", **_: Any) -> None:
        self.requests[event_name.rsplit(".", 1)[-1]] += 1

    # -- AWS's clock -------------------------------------------------------------------------

    def server_time(self) -> float:
        """AWS's clock (epoch seconds): the ``Date`` of the latest response, or the local clock
        before any. Refresh and metric times are AWS's, so windows over them are measured on
        AWS's clock, not on a local one that may be skewed (or, in the sandbox, simulated)."""
        date, self._date = self._date, None
        if date:
            # A malformed Date leaves the last good one.
            with contextlib.suppress(TypeError, ValueError):
                self._server_time = email.utils.parsedate_to_datetime(date).timestamp()
        return self._server_time if self._server_time is not None else time.time()

    def _note_date(self, parsed: Any = None, **_: Any) -> None:
        # Kept as text: it is parsed only when asked for, not on every call.
        headers = (parsed or {}).get("ResponseMetadata", {}).get("HTTPHeaders", {})
        date = headers.get("date") if isinstance(headers, dict) else None
        if date:
            self._date = str(date)

    # -- clients -----------------------------------------------------------------------------

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        with self._lock:
            if key not in self._clients:
                client = self._session.client(
                    service,
                    region_name=key[1],
                    endpoint_url=self.endpoint_url,
                    config=self._config,
                )
                client.meta.events.register("before-call.*.*", self._count_call)
                client.meta.events.register("before-send.*.*", self._count_request)
                client.meta.events.register("after-call.*.*", self._note_date)
                self._clients[key] = client
            return self._clients[key]

    # -- calling -----------------------------------------------------------------------------

    def call(
        self,
        service: str,
        operation: str,
        *,
        region: str | None = None,
        resource: str = "",
        **params: Any,
    ) -> dict[str, Any]:
        """Call ``operation`` (snake_case) and return the response, or raise a ReconcilerError.
        A write first waits for a token of the write budget."""
        method = getattr(self.client(service, region), operation)
        self._spend(service, operation, region or self.region)
        try:
            response: dict[str, Any] = method(**params)
        except Exception as exc:  # every botocore failure becomes one of ours
            raise self._failed(exc, service, operation, resource, region or self.region) from None
        response.pop("ResponseMetadata", None)
        return response

    def pages(
        self,
        service: str,
        operation: str,
        *,
        region: str | None = None,
        resource: str = "",
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """Yield each page of a paginated operation."""
        paginator = self.client(service, region).get_paginator(operation)
        self._spend(service, operation, region or self.region)
        try:
            yield from paginator.paginate(**params)
        except Exception as exc:
            raise self._failed(exc, service, operation, resource, region or self.region) from None

    def _spend(self, service: str, operation: str, region: str) -> None:
        """Wait for the write budget of (account, region, family), when ``operation`` writes."""
        name = _camel(operation)
        if is_read(name) or self.budget.take((self.account, region, service)) is not None:
            return
        self._throttled(region, service, name)
        raise errors.AwsRateLimited(
            f"{name}: the write budget for {service} in {region} (account {self.account}) "
            f"has no token within {self.budget.max_wait:g} s; retrying next pass",
            account=self.account,
            region=region,
            family=service,
        )

    def _throttled(self, region: str, family: str, operation: str) -> None:
        for hook in self._throttle_hooks:
            hook(self.account, region, family, operation)

    def _failed(
        self, exc: Exception, service: str, operation: str, resource: str, region: str
    ) -> errors.ReconcilerError:
        """``exc`` translated, once the error hooks heard of it."""
        if isinstance(exc, errors.ReconcilerError):
            return exc  # the role's AssumeRole failed while signing: already ours, and named
        name = _camel(operation)
        translated = translate(exc, operation=name, resource=resource, identity=self.identity())
        if isinstance(exc, botocore.exceptions.BotoCoreError | botocore.exceptions.ClientError):
            code = error_code(exc)
            for hook in self._error_hooks:
                hook(service, name, code)
            if code in _THROTTLE_CODES:
                self._throttled(region, service, name)
                translated = errors.AwsRateLimited(
                    str(translated), account=self.account, region=region, family=service
                )
        return translated


def is_read(operation: str) -> bool:
    return operation.startswith(_READ_PREFIXES)


def error_code(exc: Exception) -> str:
    """AWS's error code of a ClientError; otherwise the exception's class name (a bounded set,
    fit for a metric label)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


def translate(
    exc: Exception, *, operation: str, resource: str = "", identity: str = ""
) -> errors.ReconcilerError:
    """Map a botocore exception to the reconciler's error tree, with one readable line;
    ``identity`` names the account and role the call was made as, when not our own."""
    on = f" on {resource}" if resource else ""
    on += f" ({identity})" if identity else ""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = str(err.get("Message", "")) or code
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _TRANSIENT_CODES or status >= 500:
            return errors.AwsThrottled(f"{operation}{on}: {code}: {message}", delay=5.0)
        return errors.AwsApiError(
            operation=operation, code=code, message=message, resource=resource, identity=identity
        )
    if isinstance(
        exc,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectionError
        | botocore.exceptions.ReadTimeoutError
        | botocore.exceptions.ConnectTimeoutError,
    ):
        return errors.AwsThrottled(f"{operation}{on}: AWS unreachable: {exc}", delay=5.0)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return errors.PermanentError(
            "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID, or use an instance role"
        )
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return errors.AwsApiError(
            operation=operation, code="ParamValidation", message=str(exc), resource=resource
        )
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return errors.AwsThrottled(f"{operation}{on}: {exc}", delay=5.0)
    raise exc


def _camel(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))
