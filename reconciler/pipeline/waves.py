"""Which services may start their rollout now (``maxConcurrentRollouts``), and where the others
stand in line. Pure: no I/O, no clock.

A commit that changes 1,000 services would otherwise start 1,000 instance refreshes in one tick.
Every rollout under way holds a slot, in all and in its account, until AWS says it ended (the
service's phase leaves Progressing/Superseding), so a wave is bounded by what AWS holds, not by
what this process remembers: a restarted daemon counts the same. Services that would start take
the free slots in the order of the desired files; the rest wait, their whole plan held, and the
next pass asks again. A service already rolling is never held (its cancel, rollback or next
checkpoint is part of the rollout that holds the slot).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from reconciler.model import ActionKind, Phase, ServiceOutcome, UpdateAutoScalingGroup
from reconciler.model.waves import Admission, QueuedRollout, RolloutCandidate, RolloutLimits

_UNDER_WAY = frozenset({Phase.PROGRESSING, Phase.SUPERSEDING})


def candidate(outcome: ServiceOutcome) -> RolloutCandidate:
    """What one pass says of a service's rollout."""
    diff, plan = outcome.diff, outcome.plan
    running = diff is not None and diff.phase in _UNDER_WAY
    starting = False
    if not running and outcome.error is None and plan is not None:
        kinds = {a.kind for a in plan.actions}
        pinned = any(isinstance(a, UpdateAutoScalingGroup) and a.pin for a in plan.actions)
        # Rolling: a refresh starts. Blue/green: the idle side is pinned to the new version.
        starting = ActionKind.START_INSTANCE_REFRESH in kinds or (
            outcome.spec.blue_green is not None
            and (pinned or ActionKind.CREATE_LAUNCH_TEMPLATE_VERSION in kinds)
        )
    return RolloutCandidate(
        name=outcome.name, account=outcome.spec.aws.account, running=running, starting=starting
    )


def admit(candidates: Sequence[RolloutCandidate], limits: RolloutLimits) -> Admission:
    """The services that may start now, and the queue of the rest, in the given order."""
    running = sum(c.running for c in candidates)
    per_account = Counter(c.account for c in candidates if c.running)
    start: list[str] = []
    waiting: list[RolloutCandidate] = []
    for c in candidates:
        if not c.starting:
            continue
        account_limit = limits.of_account(c.account)
        if (limits.total is not None and running >= limits.total) or (
            account_limit is not None and per_account[c.account] >= account_limit
        ):
            waiting.append(c)
            continue
        start.append(c.name)
        running += 1
        per_account[c.account] += 1
    queued = {
        c.name: QueuedRollout(
            position=i,
            queued=len(waiting),
            running=running,
            limit=limits.total,
            account=c.account,
            account_running=per_account[c.account],
            account_limit=limits.of_account(c.account),
        )
        for i, c in enumerate(waiting, start=1)
    }
    return Admission(start=frozenset(start), queued=queued)
