"""Options that several commands share, so each is spelled, defaulted and explained once."""

from __future__ import annotations

import argparse
import os
from importlib import metadata

from reconciler.cli import argtypes
from reconciler.cli.logs import LEVELS
from reconciler.model import DEFAULT_OWNER

# AWS retries failing new instances for an hour before it fails a refresh and rolls it back
# (aws-facts 1.5), so a broken release takes longer than 30 minutes to end.
WAIT_TIMEOUT = 7200.0


def version() -> str:
    try:
        return metadata.version("asg-reconciler")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def add_global(parser: argparse.ArgumentParser) -> None:
    """Options before the command: where AWS is, whose resources these are, how much to log."""
    parser.add_argument("--version", action="version", version=f"reconciler {version()}")
    parser.add_argument(
        "--region",
        type=argtypes.region,
        help="default AWS region (each service names its own)",
    )
    parser.add_argument(
        "--endpoint-url",
        type=argtypes.http_url,
        help="AWS endpoint, e.g. the sandbox's (AWS_ENDPOINT_URL works too)",
    )
    parser.add_argument(
        "--owner",
        type=argtypes.owner,
        default=os.environ.get("RECONCILER_OWNER", DEFAULT_OWNER),
        help="owner id tagged on managed resources, an AWS tag value (env RECONCILER_OWNER;"
        " default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        type=argtypes.log_level,
        default="warning",
        help=f"{', '.join(LEVELS)} (default: %(default)s; run: info)",
    )


def add_paths(cmd: argparse.ArgumentParser) -> None:
    """The desired files and directories a one-shot command reads."""
    cmd.add_argument(
        "paths", nargs="+", metavar="PATH", help="desired files or directories (*.yaml, *.yml)"
    )


def add_output(cmd: argparse.ArgumentParser, *formats: str) -> None:
    """``--output``/``-o``: the first of ``formats`` is the default."""
    cmd.add_argument(
        "--output",
        "-o",
        choices=list(formats),
        default=formats[0],
        help=f"{', '.join(formats)} (default: %(default)s)",
    )


def add_service(cmd: argparse.ArgumentParser) -> None:
    """One service, by name, and where its desired file is (history, retry)."""
    cmd.add_argument("service", help="the service's metadata.name")
    cmd.add_argument(
        "--path", "-f", action="append", help="desired files, repeatable (default: desired/)"
    )


def add_operator(cmd: argparse.ArgumentParser) -> None:
    """The options rollback and pause share: where the checkout is, and what to do with it."""
    cmd.add_argument(
        "--repo", default=".", help="the desired repository's work tree (default: %(default)s)"
    )
    cmd.add_argument(
        "--path", "-f", default="desired", help="desired path in it (default: %(default)s)"
    )
    cmd.add_argument("--reason", help="why: goes into the commit message")
    cmd.add_argument("--push", action="store_true", help="push the commit to the branch's remote")
    cmd.add_argument("--dry-run", action="store_true", help="show the change, commit nothing")


def run_env(flag: str, default: str | None = None) -> str | None:
    """``reconciler run``'s default for ``--flag``: env ``RECONCILER_FLAG`` if set, not empty."""
    return os.environ.get(f"RECONCILER_{flag.upper()}") or default
