"""``reconciler release SERVICE``: give up the claim on a service git no longer declares.

Shows the tags it will remove, asks (``--yes`` skips; without a terminal it refuses, exit 2),
removes them, and logs each resource released. It refuses a service still in ``--path``'s
desired files: the next pass would claim it again.
"""

from __future__ import annotations

import argparse
import sys

import structlog

from reconciler import desired, errors
from reconciler.cli.commands import _aws_in
from reconciler.cli.exits import EXIT_ERROR, EXIT_OK
from reconciler.cli.prompts import confirm
from reconciler.pipeline import orphans

log = structlog.get_logger("reconciler.cli.release")


def cmd_release(args: argparse.Namespace) -> int:
    """Remove our tags from a service git no longer declares (``pipeline.orphans``)."""
    if args.path:
        declared = {s.name for s in desired.load(args.path).services}
        if args.service in declared:
            raise errors.OperatorError(
                f"{args.service} is still declared in {', '.join(args.path)}: remove it from git "
                "first, or the reconciler claims it again"
            )
    aws = _aws_in(args, "us-east-1")
    found = [
        c for c in orphans.claims(aws, aws.region, owner=args.owner) if c.service == args.service
    ]
    if not found:
        raise errors.OperatorError(
            f"no group in {aws.region} is claimed for service {args.service!r} "
            f"by owner {args.owner!r}"
        )
    for claim in found:
        print(f"release {claim.service}: remove {', '.join(claim.tags)} from {claim.group}")
    print("  and every asg-reconciler/ tag on its launch template and target groups")
    if not args.yes and not confirm(sys.stdin, sys.stdout, what="release"):
        return EXIT_ERROR
    for claim in found:
        for done in orphans.release(aws, claim):
            print(f"released {done.resource}: {', '.join(done.keys)}")
            log.info("released", service=claim.service, resource=done.resource, keys=done.keys)
    return EXIT_OK
