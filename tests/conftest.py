"""Shared fixtures: one sandbox AWS per test session, reset and re-seeded for every test.

Fixtures:
    sandbox_server   session: the running Sandbox (moto on a free 127.0.0.1 port)
    sandbox          function: the same Sandbox, reset and seeded; ``sandbox.seeded`` has the ids
    seeded           function: ``sandbox.seeded``
    aws              function: ``reconciler.aws.Aws`` pointed at the sandbox
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox, Seeded

REGION = "us-east-1"

# Set at import, before any test builds a boto3 client: fake credentials only, no profile or
# config file that could name a real account, and no instance-metadata lookups.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    with Sandbox(port=0, region=REGION) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Iterator[Sandbox]:
    # A test may speed up the clock or swap the health model; the next one starts with defaults.
    health, speed = sandbox_server.runtime.health, sandbox_server.clock.speed
    sandbox_server.reseed()
    yield sandbox_server
    sandbox_server.runtime.health = health
    sandbox_server.clock.speed = speed


@pytest.fixture
def frozen(sandbox: Sandbox) -> Sandbox:
    """The sandbox with its clock stopped: time moves only when the test advances it (the
    ``sandbox`` fixture puts the speed back afterwards)."""
    sandbox.clock.speed = 0
    return sandbox


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """A test that calls ``cli.main()`` in-process has structlog print to its captured stderr,
    which pytest closes afterwards: later tests would log into a closed file. Put it back."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def seeded(sandbox: Sandbox) -> Seeded:
    assert sandbox.seeded is not None
    return sandbox.seeded


@pytest.fixture
def aws(sandbox: Sandbox) -> Aws:
    return Aws(region=REGION, endpoint_url=sandbox.endpoint)
