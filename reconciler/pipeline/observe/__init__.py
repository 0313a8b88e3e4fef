"""Read what AWS holds for a set of services, in batches, into ``ObservedService`` records.

Rule 7: a steady-state tick with nothing to do costs a handful of AWS calls in all, not a
handful per service. What a tick calls, and why each skip stays correct:

- **Every tick, batched:** ``DescribeAutoScalingGroups`` (100 names a call, with
  ``MaxRecords=100``, which AWS requires above 50 names), ``DescribeLaunchTemplates`` (200 names
  a filter) and ``DescribeTargetGroups`` (all of them, 400 a page). These hold what drifts by
  hand (capacity, health check, the group's version, its instances), so they are never cached.
  At 100 services that is 3 calls; at 500, 10 (5 + 3 + 2).
- **Launch template versions** are immutable: read once (``VersionCache``), new ones when
  ``LatestVersionNumber`` moves, and a referenced number the cache lacks.
- **Instance refreshes** (``DescribeInstanceRefreshes`` takes one group a call) are read for a
  group only when something says one may have started or moved on. A group is *quiet* when
  all its instances are InService and Healthy on the group's own launch template version, as
  many as its desired capacity, and the last read showed no active refresh; the refreshes read
  then are reused while the group looks exactly the same (same instances, states and versions).
  A group is read again when
  - the caller says which fingerprint each service wants (``observe(..., fingerprints=...)``,
    optional) and the version the group launches is not known to hold it: a rollout is due,
    and the diff needs the refresh history to decide it (rule 4: a failed fingerprint is not
    retried);
  - it is not quiet, or anything in that picture changed (a refresh started by hand replaces
    or detaches an instance within its first batch, which changes the picture);
  - this process wrote to it (``StartInstanceRefresh``, ``CancelInstanceRefresh``,
    ``UpdateAutoScalingGroup``, tags...), seen through botocore's ``before-parameter-build``
    event on the clients ``apply`` shares with us, so the tick after a write always reads it;
    a ``StartInstanceRefresh`` that AWS refuses because of an unseen refresh also counts, so
    the next tick sees that refresh and supersedes it;
  - its last read is older than ``refresh_recheck`` (5 minutes): a safety net for a refresh
    that changes no instance (e.g. one waiting at a checkpoint with every instance already
    replaced on the same version). At most ``rechecks_per_tick`` (1) such reads a tick, oldest
    first, so the net costs one call a tick at any scale instead of a spike of N; with N
    groups, each is re-read at least every max(5 minutes, N ticks).
- **Target group tags and the groups' scaling policies** (ours and hand-made, one region-wide
  read) change only through us or by rare hand edits: cached for ``tags_ttl`` /
  ``policies_ttl`` (5 minutes), so drift on them is still caught within the TTL; a write this
  process makes to them (``AddTags``, ``RemoveTags``, ``PutScalingPolicy``, ``DeletePolicy``)
  drops the entry at once.

A new ``Observer`` (a restart, a CLI run) has no memory and reads everything, so nothing above
can outlive the process that learned it.

The modules, one job each: ``observer`` (the ``Observer`` that ties a tick together);
``groups``, ``templates`` (with the ``VersionCache``), ``target_groups``, ``policies`` and
``refreshes`` (per resource kind: its batched describe, and what is remembered of it);
``shapes`` (AWS's response shapes parsed into model records); ``memory`` (the per-region stores
and the TTL cache); ``writes`` (our own writes, heard through botocore); ``batches`` (names cut
into AWS's per-call limits).
"""

from __future__ import annotations

from reconciler.pipeline.observe.groups import describe_groups
from reconciler.pipeline.observe.observer import (
    POLICIES_TTL_SECONDS,
    RECHECKS_PER_TICK,
    REFRESH_RECHECK_SECONDS,
    TAGS_TTL_SECONDS,
    Observer,
)
from reconciler.pipeline.observe.policies import describe_policies_of_groups
from reconciler.pipeline.observe.refreshes import Signature, describe_refreshes, quiet_signature
from reconciler.pipeline.observe.shapes import (
    decode_user_data,
    parse_group,
    parse_instance,
    parse_policy,
    parse_refresh,
    parse_target_group,
    parse_template,
    parse_version,
)
from reconciler.pipeline.observe.target_groups import (
    describe_target_group_tags,
    list_target_groups,
)
from reconciler.pipeline.observe.templates import (
    KEEP_OWN_VERSIONS,
    VersionCache,
    describe_templates,
    describe_versions,
    referenced_versions,
)

__all__ = [
    "KEEP_OWN_VERSIONS",
    "POLICIES_TTL_SECONDS",
    "RECHECKS_PER_TICK",
    "REFRESH_RECHECK_SECONDS",
    "TAGS_TTL_SECONDS",
    "Observer",
    "Signature",
    "VersionCache",
    "decode_user_data",
    "describe_groups",
    "describe_policies_of_groups",
    "describe_refreshes",
    "describe_target_group_tags",
    "describe_templates",
    "describe_versions",
    "list_target_groups",
    "parse_group",
    "parse_instance",
    "parse_policy",
    "parse_refresh",
    "parse_target_group",
    "parse_template",
    "parse_version",
    "quiet_signature",
    "referenced_versions",
]
