"""Command-line entry point: parsing, exit codes and printing. The work happens elsewhere.

Exit codes: 0 success (for ``diff``: no changes), 1 error or invalid input, 2 usage (for ``diff``:
changes pending). ``apply --wait`` adds 3 (rollout failed or rolled back) and 4 (timeout).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TextIO

from reconciler import desired, errors
from reconciler.aws import Aws
from reconciler.cli import logs, render
from reconciler.daemon import source
from reconciler.images.resolver import ImageResolver
from reconciler.model import DEFAULT_OWNER, Problem, ServiceSpec
from reconciler.pipeline.apply import apply
from reconciler.pipeline.follow import Follower, progress_line
from reconciler.pipeline.plan import retry
from reconciler.pipeline.reconcile import Reconciler, ServiceOutcome
from reconciler.pipeline.status import history, service_status

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHANGES = 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors share one exit path."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise errors.UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reconciler", description="GitOps for EC2 Auto Scaling deployments.")
    parser.add_argument("--region", help="default AWS region (each service names its own)")
    parser.add_argument(
        "--endpoint-url", help="AWS endpoint, e.g. the sandbox's (AWS_ENDPOINT_URL works too)"
    )
    parser.add_argument(
        "--owner",
        default=os.environ.get("RECONCILER_OWNER", DEFAULT_OWNER),
        help="owner id tagged on managed resources (default: %(default)s)",
    )
    parser.add_argument("--log-level", default="warning", help="debug, info, warning, error")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    cmd = sub.add_parser("validate", help="check desired files; exit 0 valid, 1 invalid")
    cmd.add_argument("paths", nargs="+", metavar="PATH")
    cmd.set_defaults(run=cmd_validate)

    cmd = sub.add_parser("diff", help="show what apply would change; exit 0 none, 2 changes")
    cmd.add_argument("paths", nargs="+", metavar="PATH")
    cmd.add_argument("--output", "-o", choices=["text", "json", "markdown"], default="text")
    cmd.set_defaults(run=cmd_diff)

    cmd = sub.add_parser("apply", help="show the diff, then make AWS match it")
    cmd.add_argument("paths", nargs="+", metavar="PATH")
    cmd.add_argument("--yes", "-y", action="store_true", help="apply without asking")
    cmd.add_argument("--wait", action="store_true", help="follow the rollout until it ends")
    cmd.add_argument("--timeout", type=float, default=1800.0, help="seconds for --wait")
    cmd.add_argument("--poll", type=float, default=10.0, help=argparse.SUPPRESS)
    cmd.set_defaults(run=cmd_apply)

    cmd = sub.add_parser("status", help="conditions, revisions and rollouts per service")
    cmd.add_argument("paths", nargs="+", metavar="PATH")
    cmd.add_argument("--output", "-o", choices=["text", "json"], default="text")
    cmd.set_defaults(run=cmd_status)

    cmd = sub.add_parser("history", help="revisions the reconciler rolled out, newest first")
    cmd.add_argument("service")
    cmd.add_argument("--path", "-f", action="append", help="desired files (default: desired/)")
    cmd.add_argument("--output", "-o", choices=["text", "json"], default="text")
    cmd.set_defaults(run=cmd_history)

    cmd = sub.add_parser("retry", help="allow a failed revision to be rolled out again")
    cmd.add_argument("service")
    cmd.add_argument("--path", "-f", action="append", help="desired files (default: desired/)")
    cmd.set_defaults(run=cmd_retry)

    cmd = sub.add_parser(
        "rollback",
        help="commit the image a service had before (never touches AWS)",
        description="In a checkout of the desired repository, set SERVICE's image back to the "
        "one it had at --to (default 'previous': the newest commit before HEAD whose image "
        "differs), editing only the image fields, and commit it; --push pushes the commit. "
        "The daemon then rolls it out like any commit.",
    )
    cmd.add_argument("service")
    cmd.add_argument(
        "--to", default="previous", help="a git revision, or 'previous' (default: %(default)s)"
    )
    _operator_arguments(cmd)
    cmd.set_defaults(run=cmd_rollback)

    cmd = sub.add_parser(
        "pause",
        help="commit spec.paused: true for a service (--resume removes it)",
        description="In a checkout of the desired repository, commit spec.paused: true for "
        "SERVICE: the reconciler keeps showing its diff but applies nothing to it. --resume "
        "commits its removal.",
    )
    cmd.add_argument("service")
    cmd.add_argument("--resume", action="store_true", help="remove spec.paused instead")
    _operator_arguments(cmd)
    cmd.set_defaults(run=cmd_pause)

    cmd = sub.add_parser(
        "demo", help="the whole story against a local sandbox: deploy, break, revert"
    )
    cmd.set_defaults(run=cmd_demo)

    cmd = sub.add_parser("sandbox", help="run a local AWS seeded with the example architecture")
    cmd.add_argument("--port", type=int, default=4566)
    cmd.add_argument(
        "--speed", type=float, default=1.0, help="sandbox seconds per wall second (default 1)"
    )
    cmd.set_defaults(run=cmd_sandbox)

    cmd = sub.add_parser(
        "run",
        help="the daemon: reconcile a git branch in a loop (health, metrics, webhook, lease)",
        description="Fetch --path of --branch from --repo every --interval and reconcile it. "
        "A commit that fails validation (or, with --verify-commits, its signature check) is "
        "refused and the last good one stays applied. HTTP on --listen: /healthz, /readyz, "
        "/status, /metrics and POST /hooks/git.",
    )
    # Each of these flags falls back to an environment variable (RECONCILER_REPO, ...), so a
    # container image can be configured by its environment alone (see the Dockerfile).
    cmd.add_argument(
        "--repo",
        required=not _run_env("repo"),
        default=_run_env("repo"),
        help="git URL or path; a plain directory works too (env RECONCILER_REPO)",
    )
    cmd.add_argument(
        "--branch",
        default=_run_env("branch", "main"),
        help="branch to follow (env RECONCILER_BRANCH; default: %(default)s)",
    )
    cmd.add_argument(
        "--path",
        default=_run_env("path", "desired/"),
        help="desired path in it (env RECONCILER_PATH; default: %(default)s)",
    )
    cmd.add_argument(
        "--interval",
        default=_run_env("interval", "30s"),
        help="30s, 5m, 1h or seconds (env RECONCILER_INTERVAL; default: %(default)s)",
    )
    cmd.add_argument(
        "--listen",
        default=_run_env("listen", "127.0.0.1:9090"),
        help="HOST:PORT for HTTP, or 'off' (env RECONCILER_LISTEN; default: %(default)s)",
    )
    cmd.add_argument(
        "--cache-dir",
        default=_run_env("cache_dir"),
        help="git cache (env RECONCILER_CACHE_DIR; default: $XDG_CACHE_HOME/asg-reconciler/git)",
    )
    cmd.add_argument(
        "--lease-table",
        default=_run_env("lease_table"),
        help="DynamoDB table for a leader lease: only its holder writes (created if missing; "
        "env RECONCILER_LEASE_TABLE)",
    )
    cmd.add_argument("--verify-commits", action="store_true", help="apply only SSH-signed commits")
    cmd.add_argument("--allowed-signers", help="git's allowed signers file for --verify-commits")
    cmd.add_argument(
        "--webhook-secret-file",
        help="shared secret of the GitHub push webhook (or env RECONCILER_WEBHOOK_SECRET); "
        "without one, POST /hooks/git is disabled (404)",
    )
    cmd.add_argument("--once", action="store_true", help="one tick, then exit (1 on any error)")
    cmd.set_defaults(run=cmd_run)
    return parser


def _run_env(flag: str, default: str | None = None) -> str | None:
    """``reconciler run``'s default for ``--flag``: env ``RECONCILER_FLAG`` if set, not empty."""
    return os.environ.get(f"RECONCILER_{flag.upper()}") or default


# ------------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = desired.load(args.paths)
    _print_problems(loaded.warnings)
    names = ", ".join(s.name for s in loaded.services)
    print(f"valid: {len(loaded.services)} service(s): {names}")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    outcomes = _compute(args)
    diffs = [o.diff for o in outcomes if o.diff is not None]
    formatter: Callable[..., str] = {
        "text": render.text,
        "json": render.json,
        "markdown": render.markdown,
    }[args.output]
    print(formatter(diffs))
    if _report_errors(outcomes):
        return EXIT_ERROR
    return EXIT_OK if all(d.in_sync for d in diffs) else EXIT_CHANGES


def cmd_apply(args: argparse.Namespace) -> int:
    reconciler, specs = _reconciler(args)
    outcomes = reconciler.compute(specs)
    diffs = [o.diff for o in outcomes if o.diff is not None]
    print(render.text(diffs))
    plans = [o.plan for o in outcomes if o.plan is not None and not o.plan.empty]
    if plans:
        print(render.plan_text(plans))
        if not args.yes and not _confirm(sys.stdin, sys.stdout):
            return EXIT_ERROR
        reconciler.apply(outcomes)
        for outcome in outcomes:
            if outcome.applied is not None:
                print(f"{outcome.name}: applied {len(outcome.applied.done)} action(s)")
    if _report_errors(outcomes):
        return EXIT_ERROR
    if not args.wait:
        return EXIT_OK
    follower = Follower(
        reconciler=reconciler,
        specs=specs,
        timeout=args.timeout,
        interval=args.poll,
        report=lambda status: print(progress_line(status), flush=True),
    )
    verdict = follower.run()
    print(f"apply --wait: {verdict.name.lower()}")
    return int(verdict)


def cmd_status(args: argparse.Namespace) -> int:
    statuses = [service_status(o) for o in _compute(args)]
    if args.output == "json":
        print(json.dumps({"services": [s.to_dict() for s in statuses]}, indent=2, sort_keys=True))
    else:
        print("\n\n".join(render.status_text(s) for s in statuses))
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    outcome = _one_service(args)
    if outcome.observed is None:
        raise errors.ReconcilerError(f"{args.service}: {outcome.error}")
    revisions = history(outcome.observed)
    if args.output == "json":
        print(json.dumps([asdict(r) for r in revisions], indent=2, sort_keys=True))
    else:
        print(render.history_text(args.service, revisions))
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    outcome = _one_service(args)
    planned = retry(outcome)
    if planned is None:
        print(f"{args.service}: no failed revision recorded; nothing to retry")
        return EXIT_OK
    apply(_aws(args, [outcome.spec]), planned, region=outcome.spec.region)
    print(f"{args.service}: failure forgotten; the next apply or tick rolls it out again")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reconciler.cli import operator

    operator.rollback(
        repo=Path(args.repo),
        service=args.service,
        path=args.path,
        to=args.to,
        reason=args.reason,
        push=args.push,
        dry_run=args.dry_run,
    )
    return EXIT_OK


def cmd_pause(args: argparse.Namespace) -> int:
    from pathlib import Path

    from reconciler.cli import operator

    operator.pause(
        repo=Path(args.repo),
        service=args.service,
        path=args.path,
        resume=args.resume,
        reason=args.reason,
        push=args.push,
        dry_run=args.dry_run,
    )
    return EXIT_OK


def _operator_arguments(cmd: argparse.ArgumentParser) -> None:
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


def cmd_demo(args: argparse.Namespace) -> int:
    from reconciler.cli.demo import Demo, example_dir  # starts moto; only this command needs it

    return Demo(out=sys.stdout, template_dir=example_dir()).run()


def cmd_sandbox(args: argparse.Namespace) -> int:
    from reconciler import sandbox  # starts moto; kept out of every other command's start-up

    return sandbox.serve(port=args.port, region=args.region or "us-east-1", speed=args.speed)


def cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    # apscheduler and prometheus-client: the daemon's only
    from reconciler.daemon import loop, server

    if args.verify_commits != (args.allowed_signers is not None):
        raise errors.UsageError("--verify-commits and --allowed-signers FILE go together")
    if args.log_level == "warning":  # the global default suits one-shot commands, not a daemon
        logs.configure(level="info")
    region = args.region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    config = loop.RunConfig(
        repo=args.repo,
        branch=args.branch,
        path=args.path,
        interval=loop.parse_duration(args.interval),
        listen=None if args.listen == "off" else server.parse_listen(args.listen),
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        lease_table=args.lease_table,
        allowed_signers=Path(args.allowed_signers) if args.allowed_signers else None,
        webhook_secret=loop.webhook_secret(file=args.webhook_secret_file, env=os.environ),
        once=args.once,
        owner=args.owner,
        region=region or "us-east-1",
        endpoint_url=args.endpoint_url,
    )
    return loop.run(config)


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> list[ServiceSpec]:
    revision = source.revision_of(args.paths)
    loaded = desired.load(args.paths, revision=revision)
    _print_problems(loaded.warnings)
    return list(loaded.services)


def _aws(args: argparse.Namespace, specs: Sequence[ServiceSpec]) -> Aws:
    region = args.region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    return Aws(
        region=region or (specs[0].region if specs else "us-east-1"), endpoint_url=args.endpoint_url
    )


def _reconciler(args: argparse.Namespace) -> tuple[Reconciler, list[ServiceSpec]]:
    specs = _load(args)
    aws = _aws(args, specs)
    return Reconciler(aws=aws, resolver=ImageResolver(aws), owner=args.owner), specs


def _one_service(args: argparse.Namespace) -> ServiceOutcome:
    args.paths = args.path or ["desired"]
    reconciler, specs = _reconciler(args)
    chosen = [s for s in specs if s.name == args.service]
    if not chosen:
        known = ", ".join(s.name for s in specs) or "none"
        raise errors.UsageError(f"no service {args.service!r} in {args.paths} (found: {known})")
    return reconciler.compute(chosen)[0]


def _compute(args: argparse.Namespace) -> list[ServiceOutcome]:
    reconciler, specs = _reconciler(args)
    return reconciler.compute(specs)


def _confirm(stdin: TextIO, stdout: TextIO) -> bool:
    if not stdin.isatty():
        raise errors.UsageError("refusing to apply without --yes: standard input is not a terminal")
    stdout.write("Apply these changes? Only 'yes' is accepted: ")
    stdout.flush()
    answer = stdin.readline().strip()
    if answer != "yes":
        print("apply cancelled")
        return False
    return True


def _report_errors(outcomes: Sequence[ServiceOutcome]) -> bool:
    failed = [o for o in outcomes if o.error is not None]
    for outcome in failed:
        print(f"{outcome.name}: error: {outcome.error}", file=sys.stderr)
    return bool(failed)


def _print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        logs.configure(level=args.log_level)
        code: int = args.run(args)
        return code
    except errors.UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except errors.InvalidDesiredState as exc:
        _print_problems(exc.problems)
        errors_found = sum(1 for p in exc.problems if not p.warning)
        print(f"invalid: {errors_found} error(s)", file=sys.stderr)
        return EXIT_ERROR
    except errors.ReconcilerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug of ours: still one line, the traceback only on request
        if logging.getLogger().isEnabledFor(logging.DEBUG) or os.environ.get("RECONCILER_DEBUG"):
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc}"
            " (set RECONCILER_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
