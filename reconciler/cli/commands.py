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
from typing import Any

from reconciler import desired, errors
from reconciler.aws import Aws
from reconciler.cli import logs, operator, options, render, report
from reconciler.cli.apply_follow import follow_apply
from reconciler.cli.exits import (
    EXIT_ERROR,
    EXIT_OK,
    diff_exit,
    held,
)
from reconciler.cli.extras import needs_extra
from reconciler.cli.prompts import confirm, report_errors
from reconciler.daemon import source
from reconciler.daemon.git import move_credentials
from reconciler.daemon.lineage import Lineage
from reconciler.daemon.shards import parse_shard
from reconciler.images.description import parse_description
from reconciler.images.resolver import ImageResolver
from reconciler.model import ObservedService, Problem, ServiceSpec
from reconciler.pipeline.apply import apply
from reconciler.pipeline.observe import describe_refreshes
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
    report_errors(outcomes)
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
        if not args.yes and not confirm(sys.stdin, sys.stdout):
            return EXIT_ERROR
        reconciler.apply(outcomes)
        for outcome in outcomes:
            if outcome.applied is not None and outcome.plan is not None:
                done, planned = len(outcome.applied.done), len(outcome.plan.actions)
                print(f"{outcome.name}: applied {done} of {planned} action(s)")
    for name in held(outcomes):
        print(f"{name}: paused: its changes were not applied (reconciler pause --resume)")
    if report_errors(outcomes):
        return EXIT_ERROR
    return follow_apply(args, reconciler, specs, outcomes)


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
    revisions = history(_whole_history(args, outcome.spec, outcome.observed))
    if args.output == "json":
        print(json.dumps([asdict(r) for r in revisions], indent=2, sort_keys=True))
    else:
        print(report.history_text(args.service, revisions))
    return EXIT_OK


def _whole_history(
    args: argparse.Namespace, spec: ServiceSpec, observed: ObservedService
) -> ObservedService:
    """A tick reads refreshes only back to the running version's; a history reads on (pages of
    100, bounded) until each version the reconciler made has its refresh outcome."""
    group, template = observed.auto_scaling_group, observed.launch_template
    if group is None or template is None:
        return observed
    ours = {v.version_number for v in template.versions if parse_description(v.description)}
    aws = _aws(args, [spec]).assumed(spec.aws)
    refreshes = describe_refreshes(aws, spec.region, group.name, wanted=ours)
    return replace(observed, refreshes=refreshes)


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
        how = replace(how, confirm=lambda summary: confirm(sys.stdin, sys.stdout, what="commit"))
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


def print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(problem, file=sys.stderr)
