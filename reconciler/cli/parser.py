"""The command line's grammar: one function per command builds its subparser, names its handler."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeAlias

from reconciler import errors
from reconciler.cli import argtypes, commands, exits, options, release

Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors share one exit path.

    ``usage_error`` is what a command's bad arguments raise: ``UsageError`` (exit 2), except for
    ``diff``, whose 2 means "changes" to CI, so its bad arguments are plain errors (exit 1).
    """

    def __init__(
        self,
        *args: Any,
        usage_error: type[errors.ReconcilerError] = errors.UsageError,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.usage_error = usage_error

    def error(self, message: str) -> None:  # type: ignore[override]
        raise self.usage_error(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="reconciler",
        description="GitOps for EC2 Auto Scaling deployments.",
        epilog="Exit codes: see each command's --help, and the command table in README.md.",
    )
    options.add_global(parser)
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        parser_class=_Parser,
        metavar="COMMAND",
        help="one of these; `reconciler COMMAND --help` tells its arguments and exit codes",
    )
    for add in COMMANDS:
        add(sub)
    for action in sub._choices_actions:  # `reconciler CMD --help` opens with what CMD does
        command = sub.choices[action.dest]
        if command.description is None:
            command.description = action.help
        command.epilog = exits.epilog(action.dest)
    return parser


def add_validate(sub: Subparsers) -> None:
    cmd = sub.add_parser("validate", help="check desired files; exit 0 valid, 1 invalid")
    options.add_paths(cmd)
    cmd.set_defaults(run=commands.cmd_validate)


def add_diff(sub: Subparsers) -> None:
    cmd = sub.add_parser(
        "diff",
        help="show what apply would change; exit 0 nothing to apply, 2 changes, 1 error",
        usage_error=errors.ReconcilerError,
    )
    options.add_paths(cmd)
    options.add_output(cmd, "text", "json", "markdown")
    cmd.set_defaults(run=commands.cmd_diff)


def add_apply(sub: Subparsers) -> None:
    cmd = sub.add_parser("apply", help="show the diff, then make AWS match it")
    options.add_paths(cmd)
    cmd.add_argument("--yes", "-y", action="store_true", help="apply without asking")
    cmd.add_argument(
        "--force",
        action="store_true",
        help="write even while a daemon owns the service or a newer revision was written",
    )
    cmd.add_argument(
        "--wait",
        action="store_true",
        help="follow the rollout until it ends; a failed one until AWS has rolled it back",
    )
    cmd.add_argument(
        "--timeout",
        type=argtypes.positive_seconds,
        default=None,
        help=f"seconds for --wait, more than 0 (default: {options.WAIT_TIMEOUT:.0f}; a broken"
        " release takes AWS over an hour); refused without --wait",
    )
    cmd.add_argument("--poll", type=argtypes.positive_seconds, default=10.0, help=argparse.SUPPRESS)
    cmd.set_defaults(run=commands.cmd_apply)


def add_status(sub: Subparsers) -> None:
    cmd = sub.add_parser("status", help="conditions, revisions and rollouts per service")
    options.add_paths(cmd)
    options.add_output(cmd, "text", "json")
    cmd.set_defaults(run=commands.cmd_status)


def add_history(sub: Subparsers) -> None:
    cmd = sub.add_parser("history", help="revisions the reconciler rolled out, newest first")
    options.add_service(cmd)
    options.add_output(cmd, "text", "json")
    cmd.set_defaults(run=commands.cmd_history)


def add_retry(sub: Subparsers) -> None:
    cmd = sub.add_parser("retry", help="allow a failed revision to be rolled out again")
    options.add_service(cmd)
    cmd.set_defaults(run=commands.cmd_retry)


def add_rollback(sub: Subparsers) -> None:
    cmd = sub.add_parser(
        "rollback",
        help="commit the image a service had before (reads AWS, never writes it)",
        description="In a checkout of the desired repository, set SERVICE's image back to the "
        "one it had at --to (default 'previous': the newest commit before HEAD whose image "
        "differs and last ran successfully, as AWS records it; a failed revision is a target "
        "only when named), editing only the image fields; show the change and why that "
        "target, ask, and commit it; --push pushes the commit. The daemon then rolls it out "
        "like any commit.",
    )
    cmd.add_argument("service", help="the service's metadata.name")
    cmd.add_argument(
        "--to", default="previous", help="a git revision, or 'previous' (default: %(default)s)"
    )
    cmd.add_argument(
        "--yes", action="store_true", help="commit without asking (needed without a terminal)"
    )
    options.add_operator(cmd)
    cmd.set_defaults(run=commands.cmd_rollback)


def add_release(sub: Subparsers) -> None:
    cmd = sub.add_parser(
        "release",
        help="remove the reconciler's tags from a service no longer in git",
        description="For SERVICE, removed from (or renamed in) the desired files: remove every "
        "asg-reconciler/ tag from its Auto Scaling group, launch template and target groups, "
        "after showing them and asking, so the resources are nobody's. Nothing else changes.",
    )
    cmd.add_argument("service", help="the service's metadata.name, as its tags name it")
    cmd.add_argument(
        "--path", "-f", action="append", help="desired files: refuse if SERVICE is still there"
    )
    cmd.add_argument(
        "--yes", action="store_true", help="release without asking (needed without a terminal)"
    )
    cmd.set_defaults(run=release.cmd_release)


def add_pause(sub: Subparsers) -> None:
    cmd = sub.add_parser(
        "pause",
        help="commit spec.paused: true for a service (--resume removes it)",
        description="In a checkout of the desired repository, commit spec.paused: true for "
        "SERVICE: the reconciler keeps showing its diff but applies nothing to it. --resume "
        "commits its removal.",
    )
    cmd.add_argument("service", help="the service's metadata.name")
    cmd.add_argument("--resume", action="store_true", help="remove spec.paused instead")
    options.add_operator(cmd)
    cmd.set_defaults(run=commands.cmd_pause)


def add_demo(sub: Subparsers) -> None:
    cmd = sub.add_parser(
        "demo", help="the whole story against a local sandbox: deploy, break, revert"
    )
    cmd.add_argument(
        "--strategy",
        choices=("rolling", "blue-green"),
        default="rolling",
        help="rolling: instance refreshes of one group (desired/desired.yaml); blue-green: two"
        " groups behind weighted target groups (desired/examples/blue-green.yaml)",
    )
    cmd.set_defaults(run=commands.cmd_demo)


def add_sandbox(sub: Subparsers) -> None:
    cmd = sub.add_parser("sandbox", help="run a local AWS seeded with the example architecture")
    cmd.add_argument(
        "--port",
        type=argtypes.port,
        default=4566,
        help="TCP port on 127.0.0.1, 1-65535 (default: %(default)s)",
    )
    cmd.add_argument(
        "--speed",
        type=argtypes.speed,
        default=1.0,
        help="sandbox seconds per wall second, more than 0 (default 1)",
    )
    cmd.add_argument(
        "--traffic",
        type=argtypes.rate,
        default=None,
        help="requests per second through each load balancer (default 10; 0 for none)",
    )
    cmd.set_defaults(run=commands.cmd_sandbox)


def add_run(sub: Subparsers) -> None:
    cmd = sub.add_parser(
        "run",
        help="the daemon: reconcile a git branch in a loop (health, metrics, webhook, lease)",
        description="Fetch --path of --branch from --repo every --interval and reconcile it. "
        "A commit that fails validation (or, with --verify-commits, its signature check) is "
        "refused and the last good one stays applied. HTTP on --listen: /healthz, /readyz, "
        "/status, /metrics, POST /hooks/git, and the status page at /.",
    )
    _run_source(cmd)
    _run_service(cmd)
    _run_github(cmd)
    cmd.set_defaults(run=commands.cmd_run)


# Each of ``run``'s flags with an env fallback reads RECONCILER_<FLAG> (options.run_env), so a
# container image can be configured by its environment alone (see the Dockerfile).


def _run_source(cmd: argparse.ArgumentParser) -> None:
    """What ``run`` follows, and how often."""
    env = options.run_env
    cmd.add_argument(
        "--repo",
        required=not env("repo"),
        default=env("repo"),
        help="git URL or path; a plain directory works too (env RECONCILER_REPO)",
    )
    cmd.add_argument(
        "--branch",
        default=env("branch", "main"),
        help="branch to follow (env RECONCILER_BRANCH; default: %(default)s)",
    )
    cmd.add_argument(
        "--path",
        default=env("path", "desired/"),
        help="desired path in it (env RECONCILER_PATH; default: %(default)s)",
    )
    cmd.add_argument(
        "--interval",
        type=argtypes.from_usage(_duration),
        default=env("interval", "30s"),
        help="30s, 5m, 1h or seconds (env RECONCILER_INTERVAL; default: %(default)s)",
    )


def _run_service(cmd: argparse.ArgumentParser) -> None:
    """How ``run`` serves: HTTP, its git cache, the leader lease, signatures, the webhook."""
    env = options.run_env
    cmd.add_argument(
        "--listen",
        type=argtypes.from_usage(_listen),
        default=env("listen", "127.0.0.1:9090"),
        help="HOST:PORT for HTTP, or 'off' (env RECONCILER_LISTEN; default: %(default)s)",
    )
    cmd.add_argument(
        "--cache-dir",
        default=env("cache_dir"),
        help="git cache (env RECONCILER_CACHE_DIR; default: $XDG_CACHE_HOME/asg-reconciler/git)",
    )
    cmd.add_argument(
        "--lease-table",
        type=argtypes.lease_table,
        default=env("lease_table"),
        help="DynamoDB table for a leader lease: only its holder writes (created if missing; "
        "env RECONCILER_LEASE_TABLE)",
    )
    cmd.add_argument(
        "--shard",
        default=env("shard"),
        metavar="K/N",
        help="reconcile shard K of N (services split by a hash of their name), one lease a "
        "shard in --lease-table; takes over a dead peer's shard when its lease expires "
        "(env RECONCILER_SHARD)",
    )
    cmd.add_argument("--verify-commits", action="store_true", help="apply only SSH-signed commits")
    cmd.add_argument("--allowed-signers", help="git's allowed signers file for --verify-commits")
    cmd.add_argument(
        "--webhook-secret-file",
        help="shared secret of the GitHub push webhook (or env RECONCILER_WEBHOOK_SECRET); "
        "without one, POST /hooks/git is disabled (404)",
    )
    cmd.add_argument(
        "--webhook-repository",
        default=env("webhook_repository"),
        metavar="OWNER/NAME",
        help="tick only for pushes whose repository.full_name is this (env "
        "RECONCILER_WEBHOOK_REPOSITORY); others are answered 202 ignored_repository",
    )
    cmd.add_argument(
        "--action-token-file",
        help="token that unlocks the status page's pause, resume and rollback (they commit to "
        "--repo; or env RECONCILER_ACTION_TOKEN); without one the page at / is read-only",
    )
    cmd.add_argument("--once", action="store_true", help="one tick, then exit (1 on any error)")
    cmd.add_argument(
        "--max-concurrent-rollouts",
        default=env("max_concurrent_rollouts"),
        metavar="N",
        help="rollouts under way at once, in all; the others wait in a queue that /status shows "
        "(env RECONCILER_MAX_CONCURRENT_ROLLOUTS; default: no limit)",
    )
    cmd.add_argument(
        "--max-concurrent-rollouts-per-account",
        action="append",
        default=(env("max_concurrent_rollouts_per_account") or "").split(),
        metavar="N|ACCOUNT=N",
        help="rollouts under way at once in each account (N), or in one (ACCOUNT=N); repeatable "
        "(env RECONCILER_MAX_CONCURRENT_ROLLOUTS_PER_ACCOUNT; default: no limit)",
    )
    _run_notify(cmd)


def _run_notify(cmd: argparse.ArgumentParser) -> None:
    """Where ``run`` sends notifications (reconciler.daemon.notify)."""
    cmd.add_argument(
        "--notify",
        action="append",
        default=(options.run_env("notify") or "").split(),
        metavar="KIND:TARGET",
        help="send rollout events to webhook:URL (signed JSON) or slack:URL (a Slack incoming "
        "webhook); URL may be env:VARIABLE or file:PATH; repeatable (env RECONCILER_NOTIFY, "
        "space-separated)",
    )
    cmd.add_argument(
        "--notify-secret-file",
        help="the webhook sinks' HMAC-SHA256 signing secret (or env RECONCILER_NOTIFY_SECRET)",
    )


def _run_github(cmd: argparse.ArgumentParser) -> None:
    """Where ``run`` reports rollouts: GitHub commit statuses and deployments, linking the page."""
    env = options.run_env
    cmd.add_argument(
        "--external-url",
        type=argtypes.http_url,
        default=env("external_url"),
        help="the status page's public URL, linked from GitHub (env RECONCILER_EXTERNAL_URL)",
    )
    cmd.add_argument(
        "--github-token-file",
        help="token for commit statuses and deployments (or env RECONCILER_GITHUB_TOKEN or "
        "GITHUB_TOKEN); reporting is on when a token and the repository are known",
    )
    cmd.add_argument(
        "--github-repository",
        default=env("github_repository"),
        help="OWNER/NAME (env RECONCILER_GITHUB_REPOSITORY; default: from a github.com --repo)",
    )
    cmd.add_argument(
        "--github-api-url",
        type=argtypes.http_url,
        default=env("github_api_url", "https://api.github.com"),
        help="GitHub's REST API (env RECONCILER_GITHUB_API_URL; default: %(default)s)",
    )


def _duration(text: str) -> None:
    from reconciler.daemon.run import parse_duration  # the daemon's modules load only for `run`

    parse_duration(text)


def _listen(text: str) -> None:
    from reconciler.daemon.server import parse_listen

    if text != "off":
        parse_listen(text)


COMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    add_validate,
    add_diff,
    add_apply,
    add_status,
    add_history,
    add_retry,
    add_rollback,
    add_release,
    add_pause,
    add_demo,
    add_sandbox,
    add_run,
)
