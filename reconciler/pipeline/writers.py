"""Who may write a service, and at which revision: the check before every write (issue 17 #4).

Every write to a service records its writer on the group (``TAG_WRITER``: owner, revision,
daemon or cli, the commit's time). Before the next write, the writer's own stamp is judged
against the one recorded there:

- the same revision writes freely (a rollout carried on, tick after tick);
- ``apply`` from the command line refuses while a daemon wrote last (it owns the service),
  unless ``--force``;
- a writer whose revision is older than the recorded one refuses: git ancestry decides when the
  writer's repository holds both commits; otherwise the commits' recorded times do (a tie, or a
  revision that is no commit, is let through: nothing says it is older);
- a revision the writer itself saw rewritten away (a force-push back) is not "newer".

A refusal is ``errors.WriterConflict``: the service is Stalled with reason ``WriterConflict``
and nothing is written, so two writers never cancel each other's refreshes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from reconciler import errors
from reconciler.model import TAG_WRITER, Plan, Resource, ServiceOutcome, TagResource

DAEMON = "daemon"
CLI = "cli"
SHORT = 12
DIRTY = "-dirty"  # ``source.revision_of``: a work tree with uncommitted changes
_STAMP = re.compile(r"^(?P<owner>.+)@(?P<rev>[^ @]+) by=(?P<kind>\w+) t=(?P<t>\d+|-)$")


@dataclass(frozen=True, slots=True)
class Stamp:
    """A writer as the tag records it."""

    owner: str
    revision: str  # first 12 characters; "-" when unknown
    kind: str  # DAEMON or CLI
    committed: int | None  # the commit's time, epoch seconds

    def value(self) -> str:
        t = "-" if self.committed is None else str(self.committed)
        return f"{self.owner}@{self.revision} by={self.kind} t={t}"


def parse_stamp(value: str | None) -> Stamp | None:
    match = _STAMP.match(value or "")
    if match is None:
        return None
    t = match.group("t")
    return Stamp(match.group("owner"), match.group("rev"), match.group("kind"),
                 None if t == "-" else int(t))  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Writer:
    """This process as a writer: what it stamps, and what it knows to judge another stamp."""

    owner: str
    kind: str
    revision: str | None
    committed: int | None = None
    force: bool = False  # `apply --force`: write over a daemon's or a newer revision
    # Whether ``other`` (a recorded revision) descends from this writer's revision, by git
    # ancestry: True, False, or None when the repository does not hold both.
    descends: Callable[[str], bool | None] = lambda other: None
    abandoned: frozenset[str] = frozenset()  # revisions seen rewritten away, 12 characters

    def stamp(self) -> Stamp:
        revision = (self.revision or "-")[:SHORT]
        if self.revision is not None and self.revision.endswith(DIRTY):
            revision += "+"  # uncommitted changes on top of that commit: not the commit itself
        return Stamp(self.owner, revision, self.kind, self.committed)


def refusal(writer: Writer, recorded: Stamp | None) -> str | None:
    """Why ``writer`` must not write over ``recorded``; None when it may."""
    mine = writer.stamp()
    if recorded is None or writer.force:
        return None
    who = f"{recorded.kind} {recorded.owner} at revision {recorded.revision}"
    if writer.kind == CLI and recorded.kind == DAEMON:
        return (
            f"a daemon owns this service (the last write was by {who}); commit to the branch it "
            "follows, or apply --force to write anyway"
        )
    if recorded.revision in ("-", mine.revision) or recorded.revision in writer.abandoned:
        return None
    if _older(writer, mine, recorded):
        return (
            f"it would undo a newer revision: {who} wrote last, and this {writer.kind} is at "
            f"{mine.revision}, older"
        )
    return None


def _older(writer: Writer, mine: Stamp, recorded: Stamp) -> bool:
    if writer.revision is not None:
        descends = writer.descends(recorded.revision)
        if descends is not None:
            return descends
    if mine.committed is None or recorded.committed is None:
        return False
    return recorded.committed > mine.committed


def check_and_stamp(outcome: ServiceOutcome, writer: Writer) -> None:
    """Before ``outcome``'s plan is applied: refuse it (``WriterConflict``), or add the writer's
    stamp to it when the group does not carry it yet."""
    plan, observed = outcome.plan, outcome.observed
    group = observed.auto_scaling_group if observed is not None else None
    if plan is None or plan.empty or group is None:
        return
    current = group.tags.get(TAG_WRITER)
    why = refusal(writer, parse_stamp(current))
    if why is not None:
        raise errors.WriterConflict(f"{outcome.name}: not written: {why}")
    value = writer.stamp().value()
    if current != value:
        outcome.plan = _stamped(plan, group=group.name, value=value)


def _stamped(plan: Plan, *, group: str, value: str) -> Plan:
    """The plan with the stamp in its tag write of the group (one call), or in one of its own."""
    actions = list(plan.actions)
    for index, action in enumerate(actions):
        if (
            isinstance(action, TagResource)
            and action.resource_type is Resource.AUTO_SCALING_GROUP
            and action.resource_id == group
        ):
            actions[index] = dataclasses.replace(action, tags={**action.tags, TAG_WRITER: value})
            return dataclasses.replace(plan, actions=tuple(actions))
    tag = TagResource(
        resource_name=group,
        reason="record the writer",
        resource_type=Resource.AUTO_SCALING_GROUP,
        resource_id=group,
        tags={TAG_WRITER: value},
    )
    ordered = tuple(sorted((tag, *actions), key=lambda a: a.kind))
    return dataclasses.replace(plan, actions=ordered)
