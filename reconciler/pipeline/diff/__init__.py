"""Pair a desired service with what AWS holds and say, field by field, what differs. Pure: no I/O.

``diff`` returns a ``Diff``: the field-level ``Change``s and the rollout ``Phase`` that tells
``plan`` what it may do. The helpers beside it (``desired_version``, ``current_version``,
``missing_tags``, ``is_rollout``) are shared with ``plan`` so both sides agree
on what "the desired version" and "a rollout change" mean.

Phase precedence, highest first:

1. a resource is missing or owned by someone else → BLOCKED, no changes;
2. the newest refresh reports a status this release does not know → BLOCKED, naming it;
3. a refresh for the desired version is running → PROGRESSING (rollout changes dropped);
4. the desired rollout key is tagged failed, or the newest finished refresh for the desired
   version failed or was rolled back (``RollbackDetails``) → FAILED (only when a refresh
   would otherwise be needed);
5. AWS would refuse the refresh (AutoRollback with an SSM-parameter AMI) → BLOCKED, saying
   what to do;
6. another refresh is running → SUPERSEDING (cancel it first, or wait for the cancel);
7. any change → OUT_OF_SYNC, else IN_SYNC;

and ``spec.paused`` turns whatever came out of 2-5 into BLOCKED "paused", keeping the changes.

The modules: ``compare`` (``diff`` itself, in that order), ``ownership`` (1, and the tags
adopting a resource writes), ``settings`` (target group, group and scaling policy changes, from
``model.fields``), ``versions`` (the launch template version and image pairing, and the rollout
changes; which image an observed version runs is ``reconciler.images.scripts``'s answer, the
one reader), ``rollout`` (2-6), with ``failure`` (4, and what the failed tag holds:
``model.markers.rollout_key``) and ``preconditions`` (5), and ``notes`` (what the diff saw and
leaves alone: the settings the file omits, a capacity a scaling policy owns, the rollout policy
when no refresh starts).
"""

from __future__ import annotations

from reconciler.pipeline.diff.compare import diff
from reconciler.pipeline.diff.ownership import missing_tags, ownership_tags
from reconciler.pipeline.diff.versions import (
    ROLLOUT_FIELDS,
    current_version,
    desired_version,
    holds_desired,
    is_rollout,
    uses_template,
    version_fingerprint,
)

__all__ = [
    "ROLLOUT_FIELDS",
    "current_version",
    "desired_version",
    "diff",
    "holds_desired",
    "is_rollout",
    "missing_tags",
    "ownership_tags",
    "uses_template",
    "version_fingerprint",
]
