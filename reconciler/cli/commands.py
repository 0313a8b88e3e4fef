"""The commands' handlers: each reads its parsed arguments, does the work elsewhere, prints.

A handler returns the command's exit code (``reconciler.cli.exits``); errors propagate to
``reconciler.cli.main``, which turns each kind into its message and code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TextIO

from reconciler import desired, errors
from reconciler.aws import Aws
from reconciler.cli import logs, operator, options, render, report
from reconciler.cli.bluegreen_text import blue_green_aftermath
from reconciler.cli.exits import (
    EXIT_ERROR,
    EXIT_HELD,
    EXIT_OK,
    apply_exit,
    cannot_act,
    diff_exit,
    held,
)
from reconciler.cli.extras import needs_extra
from reconciler.cli.options import WAIT_TIMEOUT
from reconciler.daemon import source
from reconciler.daemon.git import move_credentials
from reconciler.daemon.lineage import Lineage
from reconciler.daemon.shards import parse_shard
from reconciler.images.resolver import ImageResolver
from reconciler.model import Phase, Problem, ServiceSpec
from reconciler.pipeline.apply import apply
from reconciler.pipeline.bluegreen_status import blue_green_status
from reconciler.pipeline.follow import (
    Follower,
    Verdict,
    aftermath,
    change_keys,
    failed,
    progress_line,
)
from reconciler.pipeline.plan import retry
from reconciler.pipeline.reconcile import Reconciler, ServiceOutcome
from reconciler.pipeline.status import history, service_status
from reconciler.pipeline.writers import CLI, Writer


def cmd_validate(args: argparse.Namespace) -> int:
    loaded = desired.load(args.paths)
    print_problems(loaded.warnings)
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
    print(formatter(diffs, unread=render.unread_services(outcomes)))
    _report_errors(outcomes)
    return diff_exit(outcomes)


def cmd_apply(args: argparse.Namespace) -> int:
    if args.timeout is not None and not args.wait:
        raise errors.UsageError("apply: --timeout is the limit of --wait: add --wait, or drop it")
    reconciler, specs = _reconciler(args)
    reconciler.writer = _cli_writer(args, specs, force=args.force)
    outcomes = reconciler.compute(specs)
    diffs = [o.diff for o in outcomes if o.diff is not None]
    print(render.text(diffs, unread=render.unread_services(outcomes)))
    plans = [o.plan for o in outcomes if o.plan is not None and not o.plan.empty]
    if plans:
        changes = {d.service: len(d.changes) for d in diffs}
        print(render.plan_text(plans, changes=changes))
        if not args.yes and not _confirm(sys.stdin, sys.stdout):
            return EXIT_ERROR
        reconciler.apply(outcomes)
        for outcome in outcomes:
            if outcome.applied is not None and outcome.plan is not None:
                done, planned = len(outcome.applied.done), len(outcome.plan.actions)
                print(f"{outcome.name}: applied {done} of {planned} action(s)")
    for name in held(outcomes):
        print(f"{name}: paused: its changes were not applied (reconciler pause --resume)")
    if _report_errors(outcomes):
        return EXIT_ERROR
    follower = Follower(
        reconciler=reconciler,
        specs=specs,
        timeout=args.timeout or WAIT_TIMEOUT,
        interval=args.poll,
        report=lambda status: print(progress_line(status), flush=True),
        shown=change_keys(outcomes),
        approve=lambda seen: _approve(seen, yes=args.yes),
    )
    if not args.wait:
        return _finish_superseding(follower, outcomes)
    followed = follower.run()
    if follower.refused:
        print("apply --wait: stopped: new changes were not applied", file=sys.stderr)
        return EXIT_ERROR
    if followed.verdict is Verdict.FAILED:
        _print_aftermath(followed.outcomes)
    else:
        _report_errors(followed.outcomes)
    print(f"apply --wait: {followed.verdict.name.lower()}")
    if followed.verdict is Verdict.READY and held(outcomes):
        return EXIT_HELD
    return int(followed.verdict)


def _finish_superseding(follower: Follower, outcomes: Sequence[ServiceOutcome]) -> int:
    """Plain ``apply`` that cancelled an older refresh finishes what it started: it waits for
    the cancel to end and starts the new refresh (Cancelling is active, and only one refresh
    may be: aws-facts 1.1), so it never leaves a group on mixed versions with no refresh
    running. Waiting is bounded by ``--timeout``; on timeout it says what is left (exit 4)."""
    if not any(_superseding(o) for o in outcomes):
        code = apply_exit(outcomes)
        _print_aftermath(outcomes)
        return code
    print("waiting for the older refresh to be cancelled, then starting the new one", flush=True)
    follower.until = lambda seen, _statuses: (
        None if any(_superseding(o) for o in seen) else Verdict.READY
    )
    followed = follower.run()
    if follower.refused:
        print("apply: stopped: new changes were not applied", file=sys.stderr)
        return EXIT_ERROR
    left = [o.name for o in followed.outcomes if _superseding(o)]
    if followed.verdict is Verdict.TIMEOUT and left:
        print(
            f"apply: timed out: {', '.join(left)}: the older refresh is still being cancelled "
            "and the new one is not started; run apply again to start it",
            file=sys.stderr,
        )
        return int(Verdict.TIMEOUT)
    if _report_errors(followed.outcomes):
        return EXIT_ERROR
    code = apply_exit(followed.outcomes)
    _print_aftermath(followed.outcomes)
    return code


def _superseding(outcome: ServiceOutcome) -> bool:
    """An older refresh is still in the way of the desired one (being cancelled)."""
    return outcome.diff is not None and outcome.diff.phase is Phase.SUPERSEDING


def _approve(outcomes: Sequence[ServiceOutcome], *, yes: bool) -> bool:
    """Changes found while following that the operator was not shown: show them, and ask as
    apply asks (``--yes`` answered already). Never applied unseen."""
    diffs = [o.diff for o in outcomes if o.diff is not None and o.diff.changes]
    print("new changes found while following the rollout:", flush=True)
    print(render.text(diffs))
    plans = [o.plan for o in outcomes if o.plan is not None and not o.plan.empty]
    print(render.plan_text(plans), flush=True)
    if yes:
        return True
    if not sys.stdin.isatty():
        print("not applied: no terminal to ask (apply --yes applies them)", file=sys.stderr)
        return False
    return _confirm(sys.stdin, sys.stdout)


def _print_aftermath(outcomes: Sequence[ServiceOutcome]) -> None:
    """What each failed rollout left running, and what to do about it."""
    for outcome in failed(outcomes):
        sides = blue_green_status(outcome)
        if sides is not None:
            message = outcome.diff.message if outcome.diff is not None else ""
            print(blue_green_aftermath(outcome.name, message, sides), flush=True)
        else:
            print(report.aftermath_text(aftermath(outcome)), flush=True)


def cmd_status(args: argparse.Namespace) -> int:
    statuses = [service_status(o) for o in _compute(args)]
    if args.output == "json":
        print(json.dumps({"services": [s.to_dict() for s in statuses]}, indent=2, sort_keys=True))
    else:
        print("\n\n".join(report.status_text(s) for s in statuses))
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    outcome = _one_service(args)
    if outcome.observed is None:
        raise errors.ReconcilerError(f"{args.service}: {outcome.error}")
    revisions = history(outcome.observed)
    if args.output == "json":
        print(json.dumps([asdict(r) for r in revisions], indent=2, sort_keys=True))
    else:
        print(report.history_text(args.service, revisions))
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    outcome = _one_service(args)
    planned = retry(outcome)
    if planned is None:
        print(f"{args.service}: no failed revision recorded; nothing to retry")
        return EXIT_OK
    aws = _aws(args, [outcome.spec]).assumed(outcome.spec.aws)
    apply(aws, planned, region=outcome.spec.region)
    print(f"{args.service}: failure forgotten; the next apply or tick rolls it out again")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    how = _authoring(args)
    if not args.yes and not args.dry_run:
        how = replace(how, confirm=lambda summary: _confirm(sys.stdin, sys.stdout, what="commit"))
    verdicts = operator.aws_verdicts(lambda region: _aws_in(args, region), path=args.path)
    operator.rollback(how, to=args.to, verdicts=verdicts)
    return EXIT_OK


def cmd_pause(args: argparse.Namespace) -> int:
    operator.pause(_authoring(args), resume=args.resume)
    return EXIT_OK


def _authoring(args: argparse.Namespace) -> operator.Authoring:
    """SERVICE and the options of ``options.add_operator``."""
    return operator.Authoring(
        repo=Path(args.repo),
        service=args.service,
        path=args.path,
        reason=args.reason,
        push=args.push,
        dry_run=args.dry_run,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    with needs_extra("sandbox", command="demo"):  # moto; only this command and sandbox need it
        from reconciler.cli.demo import Demo, example_dir
    from reconciler.cli.demo_stories import STORIES

    story = STORIES[args.strategy]
    return Demo(out=sys.stdout, template_dir=example_dir(), story=story).run()


def cmd_sandbox(args: argparse.Namespace) -> int:
    with needs_extra("sandbox", command="sandbox"):  # moto: out of every other command's start-up
        from reconciler import sandbox

    return sandbox.serve(
        port=args.port, region=args.region or "us-east-1", speed=args.speed, traffic=args.traffic
    )


def cmd_run(args: argparse.Namespace) -> int:
    # apscheduler and prometheus-client: the daemon's only
    from reconciler.daemon import readable, run, server
    from reconciler.daemon.github.settings import github_settings
    from reconciler.daemon.notify.sinks import parse_sinks

    if args.verify_commits != (args.allowed_signers is not None):
        raise errors.UsageError("--verify-commits and --allowed-signers FILE go together")
    readable.check(readable.configured(_run_files(args), os.environ, repo=args.repo))
    if args.log_level == "warning":  # the global default suits one-shot commands, not a daemon
        logs.configure(level="info")
    # A token in --repo would show in `ps` through every git call's argv: git gets it from a
    # credential helper instead, and the rest of the daemon never sees it.
    args.repo = move_credentials(args.repo, os.environ)
    if args.cache_dir:
        _writable_dir(Path(args.cache_dir), flag="--cache-dir")
    region = args.region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    config = run.RunConfig(
        repo=args.repo,
        branch=args.branch,
        path=args.path,
        interval=run.parse_duration(args.interval),
        listen=None if args.listen == "off" else server.parse_listen(args.listen),
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        lease_table=args.lease_table,
        shard=parse_shard(args.shard) if args.shard else None,
        allowed_signers=Path(args.allowed_signers) if args.allowed_signers else None,
        webhook_secret=run.webhook_secret(file=args.webhook_secret_file, env=os.environ),
        webhook_repository=run.webhook_repository(args.webhook_repository),
        once=args.once,
        owner=args.owner,
        region=region or "us-east-1",
        endpoint_url=args.endpoint_url,
        **_page_actions(args),
        github=github_settings(
            repo_url=args.repo,
            repository=args.github_repository,
            token_file=args.github_token_file,
            env=os.environ,
            api_url=args.github_api_url,
        ),
        external_url=run.external_url(args.external_url),
        notify=parse_sinks(args.notify, secret_file=args.notify_secret_file, env=os.environ),
        write_budget=options.write_budget(args),
        rollout_limits=options.rollout_limits(
            args.max_concurrent_rollouts, args.max_concurrent_rollouts_per_account
        ),
    )
    return run.run(config)


def _run_files(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """The files ``run`` was given by option: each must be readable by the daemon's user."""
    return [
        ("--webhook-secret-file", args.webhook_secret_file),
        ("--action-token-file", args.action_token_file),
        ("--github-token-file", args.github_token_file),
        ("--notify-secret-file", args.notify_secret_file),
        ("--allowed-signers", args.allowed_signers),
    ]


def _page_actions(args: argparse.Namespace) -> dict[str, Any]:
    """The status page's action token and the actor that authors its commits, if a token is set."""
    from reconciler.cli.page_actions import page_actor
    from reconciler.daemon import web

    token = web.action_token(file=args.action_token_file, env=os.environ)
    if token is None:
        return {}
    if args.listen == "off":
        raise errors.UsageError("--action-token-file needs the status page: --listen HOST:PORT")
    local = Path(args.repo)
    if local.is_dir() and not source.is_git_repository(local):
        raise errors.UsageError("--action-token-file needs --repo to be a git repository")
    repo = str(local.resolve()) if local.exists() else args.repo
    cache = Path(args.cache_dir) if args.cache_dir else source.default_cache_dir()
    verdicts = operator.aws_verdicts(lambda region: _aws_in(args, region), path=args.path)
    actor = page_actor(
        repo=repo, branch=args.branch, path=args.path, cache_dir=cache, verdicts=verdicts
    )
    return {"action_token": token, "page_actor": actor}


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> list[ServiceSpec]:
    revision = source.revision_of(args.paths)
    loaded = desired.load(args.paths, revision=revision)
    print_problems(loaded.warnings)
    return list(loaded.services)


def _aws(args: argparse.Namespace, specs: Sequence[ServiceSpec]) -> Aws:
    return _aws_in(args, specs[0].region if specs else "us-east-1")


def _aws_in(args: argparse.Namespace, default_region: str) -> Aws:
    region = args.region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    return Aws(
        region=region or default_region,
        endpoint_url=args.endpoint_url,
        budget=options.write_budget(args),
    )


def _reconciler(args: argparse.Namespace) -> tuple[Reconciler, list[ServiceSpec]]:
    specs = _load(args)
    aws = _aws(args, specs)
    return Reconciler(aws=aws, resolver=ImageResolver(aws), owner=args.owner), specs


def _cli_writer(args: argparse.Namespace, specs: Sequence[ServiceSpec], *, force: bool) -> Writer:
    """This command as a writer: the revision its desired files are at, and git's word on it."""
    revision = specs[0].source.revision if specs else None
    lineage = Lineage.of_work_tree(args.paths)
    return Writer(
        owner=args.owner,
        kind=CLI,
        revision=revision,
        committed=lineage.committed(revision),
        descends=lineage.descends_from(revision),
        force=force,
    )


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


def _writable_dir(path: Path, *, flag: str) -> None:
    """Refuse a directory the daemon could not write, at start, rather than on every tick."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise errors.UsageError(f"{flag} {path}: cannot write there ({exc.strerror})") from None


def _confirm(stdin: TextIO, stdout: TextIO, *, what: str = "apply") -> bool:
    if not stdin.isatty():
        raise errors.UsageError(
            f"refusing to {what} without --yes: standard input is not a terminal"
        )
    question = "Apply these changes?" if what == "apply" else f"{what.capitalize()} this change?"
    stdout.write(f"{question} Only 'yes' is accepted: ")
    stdout.flush()
    answer = stdin.readline().strip()
    if answer != "yes":
        print(f"{what} cancelled")
        return False
    return True


def _report_errors(outcomes: Sequence[ServiceOutcome]) -> bool:
    """Print each service's error, or why it cannot act; True if there was any error."""
    for outcome in outcomes:
        if outcome.error is None and cannot_act(outcome) and outcome.diff is not None:
            print(f"{outcome.name}: cannot act: {outcome.diff.message}", file=sys.stderr)
    broken = [o for o in outcomes if o.error is not None]
    for outcome in broken:
        print(f"{outcome.name}: error: {outcome.error}", file=sys.stderr)
    return bool(broken)


def print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)
