"""Credentials of a role the reconciler assumes (``spec.aws.roleArn``): STS AssumeRole, once per
(role, external id), refreshed before they expire.

botocore's ``DeferredRefreshableCredentials`` does the refreshing: it calls AssumeRole on first
use, then again once the credentials are within 15 minutes of their expiry (the advisory refresh:
one thread refreshes while the others keep signing with the current ones; a failure there is
logged and the current credentials go on) and, failing that, within 10 minutes (the mandatory
refresh: every caller waits for new ones, and a failure is raised). A session lasts
``SESSION_SECONDS``: one hour, the most AWS allows when the reconciler's own credentials are
themselves a role's ("role chaining", AssumeRole API reference, DurationSeconds), so no deployment
is refused a duration it asked for. The clock is injectable so a test can show the refresh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import botocore.credentials
import botocore.session

SESSION_NAME = "asg-reconciler"
SESSION_SECONDS = 3600

Clock = Callable[[], dt.datetime]  # timezone-aware now, as botocore's own clock
AssumeRole = Callable[..., dict[str, Any]]  # the parent's Aws.call("sts", "assume_role", ...)


def local_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def session_for(
    *, role_arn: str, external_id: str | None, assume: AssumeRole, clock: Clock
) -> botocore.session.Session:
    """A botocore session signing with the role's credentials, fetched through ``assume``."""

    def fetch() -> dict[str, str]:
        params: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": SESSION_NAME,
            "DurationSeconds": SESSION_SECONDS,
        }
        if external_id:
            params["ExternalId"] = external_id
        found = assume(**params)["Credentials"]
        expiry = found["Expiration"]
        return {
            "access_key": str(found["AccessKeyId"]),
            "secret_key": str(found["SecretAccessKey"]),
            "token": str(found["SessionToken"]),
            "expiry_time": expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry),
        }

    credentials = botocore.credentials.DeferredRefreshableCredentials(
        refresh_using=fetch, method="assume-role", time_fetcher=clock
    )
    session = botocore.session.Session()
    # botocore has no public setter; this is how its own assume-role provider's result lands.
    session._credentials = credentials
    return session
