"""The events a tick tells, as plain data: one passes' ``Sighting``s through ``observe``, whole
``TickView``s through ``derive``, and real pipeline outcomes read by ``sighting``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from reconciler import errors
from reconciler.daemon.listeners import TickView
from reconciler.daemon.notify.events import (
    Kind,
    Memory,
    Sighting,
    Step,
    Told,
    derive,
    observe,
    sighting,
)
from reconciler.daemon.revisions import DesiredError, Followed, LastGood
from reconciler.model import (
    AnalysisResult,
    Change,
    Diff,
    Phase,
    Problem,
    Resource,
    ServiceOutcome,
    StartInstanceRefresh,
    Verdict,
)
from reconciler.model.observed import RefreshStatus
from reconciler.model.outcome import ApplyResult
from reconciler.pipeline.status import service_status
from tests import factories

A, B = "fp-a", "fp-b"
STARTED, STEP, SUCCEEDED = Kind.ROLLOUT_STARTED, Kind.STEP_REACHED, Kind.ROLLOUT_SUCCEEDED
FAILED, ROLLED_BACK, DRIFT = Kind.ROLLOUT_FAILED, Kind.ROLLED_BACK, Kind.DRIFT_CORRECTED
STALLED = Kind.STALLED


def seen(fp: str | None = A, **fields: Any) -> Sighting:
    return Sighting(service="feedback", revision=f"rev-{fp}", fingerprint=fp, **fields)


def rolling(fp: str = A, step: str | None = None) -> Sighting:
    found = Step(step, step.replace(":", " ")) if step else None
    return seen(fp, rolling_out=True, step=found)


def ended(*outcomes: str, fp: str = A, **fields: Any) -> Sighting:
    return seen(fp, ended=outcomes, **fields)


SYNCED = seen(A, in_sync=True)
DRIFTED = seen(A, changes=("auto_scaling_group feedback-asg maxSize: 6 → 4",), applied=True)
ACCESS = seen(A, stalled=("AccessDenied", "not allowed: autoscaling:UpdateAutoScalingGroup"))
BLOCKED = seen(A, stalled=("Blocked", "spec.paused"))


def told(passes: Sequence[Sighting], *, start: Told | None = None) -> list[list[Kind]]:
    """The kinds each pass tells, from an empty memory (or ``start``)."""
    memory, found = start or Told(), []
    for one in passes:
        memory, events = observe(memory, one)
        found.append([e.kind for e in events])
    return found


@pytest.mark.parametrize(
    ("passes", "expected"),
    [
        pytest.param(
            [rolling(), rolling(), ended("succeeded", in_sync=True), SYNCED],
            [[STARTED], [], [SUCCEEDED], []],
            id="a rollout: started once, succeeded once",
        ),
        pytest.param(
            [rolling()] * 30 + [ended("succeeded", in_sync=True)] + [SYNCED] * 30,
            [[STARTED]] + [[]] * 29 + [[SUCCEEDED]] + [[]] * 30,
            id="many ticks in flight and in sync tell nothing more",
        ),
        pytest.param(
            [rolling(), rolling(step="checkpoint:50"), rolling(step="checkpoint:50"), rolling()],
            [[STARTED], [STEP], [], []],
            id="a checkpoint is told once",
        ),
        pytest.param(
            [rolling(step="checkpoint:50")],
            [[STARTED, STEP]],
            id="first seen at a checkpoint: the start, then the step",
        ),
        pytest.param(
            [rolling(step=f"traffic:{n}") for n in (1, 1, 2, 2, 3)],
            [[STARTED, STEP], [], [STEP], [], [STEP]],
            id="blue/green traffic steps, each once",
        ),
        pytest.param(
            [rolling(), ended("rolled_back", failure="5xx rate 31%"), seen(A), seen(A)],
            [[STARTED], [FAILED, ROLLED_BACK], [], []],
            id="rolled back: failed, then rolled back",
        ),
        pytest.param(
            [rolling(), ended("failed")],
            [[STARTED], [FAILED]],
            id="failed without a rollback",
        ),
        pytest.param(
            [ended("failed")],
            [[FAILED]],
            id="a failure seen first as it ends has no start",
        ),
        pytest.param(
            [rolling(), ended("failed"), rolling(), ended("succeeded", in_sync=True)],
            [[STARTED], [FAILED], [STARTED], [SUCCEEDED]],
            id="a retry of the same state is a new rollout",
        ),
        pytest.param(
            [rolling(A), dataclasses.replace(rolling(B), ended=("superseded",))],
            [[STARTED], [STARTED]],
            id="superseded: the new state's rollout starts",
        ),
        pytest.param(
            [rolling(A, "checkpoint:50"), rolling(B, "checkpoint:50")],
            [[STARTED, STEP], [STARTED, STEP]],
            id="a new state's steps are its own",
        ),
        pytest.param(
            [SYNCED, DRIFTED, SYNCED, SYNCED, DRIFTED],
            [[], [DRIFT], [], [], [DRIFT]],
            id="drift of an in-sync service, corrected each time it happens",
        ),
        pytest.param(
            [SYNCED, dataclasses.replace(DRIFTED, applied=False), SYNCED],
            [[], [], []],
            id="drift found but not applied (standby, paused) is not corrected",
        ),
        pytest.param(
            [DRIFTED, SYNCED],
            [[], []],
            id="never seen in sync (a restart): changes are not called drift",
        ),
        pytest.param(
            [SYNCED, dataclasses.replace(DRIFTED, fingerprint=B, rolling_out=True)],
            [[], [STARTED]],
            id="a new commit's changes are a rollout, not drift",
        ),
        pytest.param(
            [ACCESS, ACCESS, ACCESS, BLOCKED, BLOCKED, SYNCED, ACCESS],
            [[STALLED], [], [], [STALLED], [], [], [STALLED]],
            id="stalled once per reason, again after it cleared",
        ),
        pytest.param(
            [seen(None, stalled=("AccessDenied", "x")), seen(None, stalled=("AccessDenied", "x"))],
            [[STALLED], []],
            id="a pass that stopped early can still stall",
        ),
    ],
)
def test_each_transition_is_told_once(passes: list[Sighting], expected: list[list[Kind]]) -> None:
    assert told(passes) == expected


def test_while_a_commit_is_refused_stalls_are_left_to_the_refusal() -> None:
    memory, events = observe(Told(), ACCESS, refusing=True)
    assert events == [] and memory.stalled is None
    memory, events = observe(memory, ACCESS)
    assert [e.kind for e in events] == [STALLED]


@pytest.mark.parametrize(
    ("one", "kind", "title", "text"),
    [
        (rolling(), STARTED, "feedback: rollout of rev-fp-a started", ""),
        (ended("failed", failure="5xx rate 31%"), FAILED, "feedback: rollout of rev-fp-a failed",
         "5xx rate 31%"),
        (ended("rolled_back", running="0123456789abcdef"), ROLLED_BACK,
         "feedback: rolled back to 0123456789ab", ""),
        (ACCESS, STALLED, "feedback: stalled (AccessDenied)",
         "not allowed: autoscaling:UpdateAutoScalingGroup"),
    ],
)  # fmt: skip
def test_what_an_event_says(one: Sighting, kind: Kind, title: str, text: str) -> None:
    _, events = observe(Told(), one)
    found = next(e for e in events if e.kind is kind)
    assert (found.title, found.text, found.service) == (title, text, "feedback")
    assert ("service", "feedback") in found.details


def test_an_events_key_is_the_same_for_the_same_transition_and_differs_otherwise() -> None:
    keys = [observe(Told(), p)[1][0].key for p in (rolling(A), rolling(A), rolling(B))]
    assert keys[0] == keys[1] != keys[2]
    _, drift = observe(Told(synced=A), DRIFTED)
    _, other = observe(Told(synced=A), dataclasses.replace(DRIFTED, changes=("x: 1 → 2",)))
    assert drift[0].key != other[0].key


# ------------------------------------------------------------------------------------------------
# derive: whole ticks
# ------------------------------------------------------------------------------------------------

DESIRED = factories.desired_service()


def outcome(phase: Phase = Phase.IN_SYNC, **fields: Any) -> ServiceOutcome:
    changes = fields.pop("changes", ())
    diff = Diff("feedback", changes, phase, fields.pop("message", ""), **fields.pop("diff", {}))
    return ServiceOutcome(
        spec=DESIRED.spec,
        desired=DESIRED,
        observed=factories.observed_service(DESIRED),
        diff=diff,
        **fields,
    )


def view(*outcomes: ServiceOutcome, leading: bool = True, **followed: Any) -> TickView:
    followed.setdefault("good", LastGood("r1", (DESIRED.spec,)))
    statuses = {o.name: service_status(o) for o in outcomes} or {"feedback": _idle()}
    return TickView(outcomes, statuses, Followed(**followed), leading=leading)


def _idle() -> Any:
    return service_status(outcome())


def refusal(revision: str = "bad1" * 10) -> DesiredError:
    problem = Problem("desired/desired.yaml", 12, "autoScalingGroup.minSize", "must be an integer")
    return DesiredError(revision, (problem,), "InvalidDesiredState")


PROGRESSING = outcome(Phase.PROGRESSING, diff={"refresh": factories.refresh()})


def kinds_of(views: Sequence[TickView]) -> list[list[str]]:
    memory, found = Memory(), []
    for one in views:
        memory, events = derive(memory, one)
        found.append([e.kind.value for e in events])
    return found


def test_a_refused_commit_is_told_once_per_commit() -> None:
    bad, worse = refusal(), refusal("bad2" * 10)
    views = (
        [view(desired_error=bad)] * 5
        + [view()]
        + [view(desired_error=bad), view(desired_error=worse)]
    )
    expected = [["commit_refused"]] + [[]] * 4 + [[]] + [["commit_refused"], ["commit_refused"]]
    assert kinds_of(views) == expected
    _, [event] = derive(Memory(), view(desired_error=bad))
    assert event.service == "" and event.revision == bad.revision
    assert (
        event.text == "desired/desired.yaml:12: error: autoScalingGroup.minSize: must be an integer"
    )
    assert event.title == "commit bad1bad1bad1 refused (InvalidDesiredState)"


def test_a_standby_tells_nothing_but_keeps_its_memory_for_the_takeover() -> None:
    bad = refusal()
    standby = [
        view(PROGRESSING, leading=False),
        view(PROGRESSING, desired_error=bad, leading=False),
    ]
    assert kinds_of([*standby, view(PROGRESSING, desired_error=bad)]) == [[]] * 3
    assert kinds_of([view(PROGRESSING, desired_error=bad)]) == [
        ["rollout_started", "commit_refused"]
    ]


def test_the_stall_a_refused_commit_puts_on_every_service_is_not_told_twice() -> None:
    stalled = outcome(error=errors.PermanentError("AccessDenied: no"))
    views = [view(stalled, desired_error=refusal()), view(stalled), view(stalled)]
    assert kinds_of(views) == [["commit_refused"], ["stalled"], []]


def test_a_service_that_left_is_forgotten() -> None:
    memory, _ = derive(Memory(), view(PROGRESSING))
    assert "feedback" in memory.services
    gone = TickView((), {}, Followed(good=LastGood("r2", ())))
    memory, _ = derive(memory, gone)
    assert memory.services == {}


# ------------------------------------------------------------------------------------------------
# sighting: a pipeline pass read into plain data
# ------------------------------------------------------------------------------------------------

START = StartInstanceRefresh(
    resource_name="feedback-asg",
    launch_template_id="lt-1",
    version=4,
    preferences={},
    fingerprint=DESIRED.fingerprint,
)
FAIL = AnalysisResult(Verdict.FAIL, (), "5xx rate 31% over 2 samples (baseline 0.2%, limit 5%)")
CHANGE = Change(Resource.AUTO_SCALING_GROUP, "feedback-asg", "maxSize", 6, 4)


def read(one: ServiceOutcome, ended: Sequence[str] = ()) -> Sighting:
    return sighting(one, service_status(one), ended)


@pytest.mark.parametrize(
    ("one", "expected"),
    [
        (outcome(), {"in_sync": True, "rolling_out": False, "step": None}),
        (outcome(Phase.OUT_OF_SYNC, changes=(CHANGE,), applied=ApplyResult("feedback", [START])),
         {"rolling_out": True, "applied": True, "in_sync": False,
          "changes": ("auto_scaling_group feedback-asg maxSize: 6 → 4",)}),
        (outcome(Phase.PROGRESSING, diff={"refresh": factories.refresh(
            percentage_complete=60, checkpoint_percentages=(50, 100))}),
         {"rolling_out": True, "step": Step("checkpoint:50", "checkpoint 50%")}),
        (outcome(Phase.PROGRESSING, diff={"refresh": factories.refresh(
            percentage_complete=40, checkpoint_percentages=(50, 100))}),
         {"rolling_out": True, "step": None}),
        (outcome(Phase.PROGRESSING, diff={"refresh": factories.refresh(
            percentage_complete=100, checkpoint_percentages=(20, 60, 100))}),
         {"step": Step("checkpoint:60", "checkpoint 60%")}),
        (outcome(Phase.PROGRESSING, diff={"refresh": factories.refresh(
            status=RefreshStatus.SUCCESSFUL, percentage_complete=100,
            checkpoint_percentages=(50, 100))}),
         {"step": None}),
        (outcome(Phase.FAILED, message="refresh rf-1 failed", diff={"analysis": FAIL}),
         {"rolling_out": False, "failure": FAIL.message}),
        (outcome(Phase.FAILED, message="refresh rf-1 failed"),
         {"failure": "refresh rf-1 failed"}),
        (outcome(Phase.BLOCKED, message="spec.paused is true"),
         {"rolling_out": False, "stalled": ("Blocked", "spec.paused is true")}),
        (ServiceOutcome(spec=DESIRED.spec, error=errors.PermanentError("AccessDenied: no")),
         {"fingerprint": None, "stalled": ("PermanentError", "AccessDenied: no")}),
    ],
)  # fmt: skip
def test_a_pass_read_as_plain_data(one: ServiceOutcome, expected: dict[str, Any]) -> None:
    found = read(one)
    assert {k: getattr(found, k) for k in expected} == expected
    assert found.service == "feedback" and found.revision == factories.REVISION


def test_the_rollout_ends_come_from_the_daemons_tracker() -> None:
    assert read(outcome(), ["succeeded"]).ended == ("succeeded",)
