"""The ``newInstances`` signal and which instances the rollout brought (rules 1-3 of
``reconciler.pipeline.analysis.instances``), over plain data."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.model.analysis import InstanceHistory, Signal, Verdict
from reconciler.pipeline.analysis import judge, new_instances, traffic_start
from reconciler.pipeline.analysis.instances import judge_instances
from tests.analysis_data import (
    GRACE,
    IN_SERVICE,
    START,
    inputs,
    new_instance,
    old_instance,
    spec,
)

AFTER_GRACE = IN_SERVICE + GRACE


@pytest.mark.parametrize(
    ("instance", "is_new"),
    [
        (new_instance(), True),
        (old_instance(), False),
        (new_instance(in_service_at=START), True),  # InService exactly at the start
        (new_instance(in_service_at=START - 1, launched_at=START - 100), False),
        # not InService yet: its launch time decides
        (new_instance(in_service_at=None, launched_at=START + 5), True),
        (new_instance(in_service_at=None, launched_at=START - 5), False),
        (new_instance(in_service_at=None, launched_at=None), False),
        # another version launched during the rollout (a scale-out on the old template) is not
        (new_instance(version="6"), False),
        # the group no longer lists it: counted by time
        (new_instance(version=None, health_terminated=True), True),
    ],
)
def test_new_instances_by_time_and_version(instance, is_new):
    found = new_instances(inputs(instances=(old_instance("i-other"), instance)))
    assert found == ((instance,) if is_new else ())


def test_an_unknown_desired_version_counts_by_time():
    other = new_instance(version="6")
    assert new_instances(inputs(instances=(other,), desired_version=None)) == (other,)


@pytest.mark.parametrize(
    ("launched_at", "is_new"),
    [(START + 500, True), (START + 600, True), (START + 601, False), (START + 900, False)],
)
def test_the_rollbacks_own_launches_are_not_new_instances(launched_at, is_new):
    launched = new_instance("i-late", in_service_at=launched_at + 60, launched_at=launched_at)
    found = new_instances(inputs(instances=(launched,), rollout_end=START + 600))
    assert (found == (launched,)) is is_new


@pytest.mark.parametrize(
    ("in_service", "expected"),
    [
        ((IN_SERVICE,), IN_SERVICE + 60),
        ((IN_SERVICE + 200, IN_SERVICE), IN_SERVICE + 60),  # the earliest
        ((None,), None),  # launched, not InService yet
        ((), None),
    ],
)
def test_traffic_start_is_the_first_in_service_plus_the_healthy_checks(in_service, expected):
    instances = tuple(
        new_instance(f"i-{k}", at, launched_at=IN_SERVICE - 60) for k, at in enumerate(in_service)
    )
    assert traffic_start(inputs(instances=(old_instance(), *instances))) == expected


def test_traffic_start_uses_the_target_groups_threshold_and_interval():
    observed = inputs(healthy_threshold=5, health_check_interval=10)
    assert traffic_start(observed) == IN_SERVICE + 50


def unhealthy(instance_id: str, reason: str = "Target.Timeout", **fields: Any) -> InstanceHistory:
    return new_instance(instance_id, target_state="unhealthy", target_reason=reason, **fields)


def replaced(instance_id: str, **fields: Any) -> InstanceHistory:
    return new_instance(instance_id, health_terminated=True, target_state="", **fields)


@pytest.mark.parametrize(
    ("instances", "observed_at", "limit", "verdict"),
    [
        # before the grace period ends, an unhealthy target is not judged
        ((unhealthy("i-a"), unhealthy("i-b")), AFTER_GRACE - 1, 2, Verdict.PENDING),
        ((unhealthy("i-a"), unhealthy("i-b")), AFTER_GRACE, 2, Verdict.FAIL),
        ((new_instance("i-a"), new_instance("i-b")), AFTER_GRACE, 2, Verdict.PASS),
        # one failing of two judged, two needed
        ((new_instance("i-a"), unhealthy("i-b")), AFTER_GRACE, 2, Verdict.PASS),
        ((new_instance("i-a"), unhealthy("i-b")), AFTER_GRACE, 1, Verdict.FAIL),
        # a 2-instance group with a batch of one: one judged, failing, is enough
        ((unhealthy("i-a"),), AFTER_GRACE, 2, Verdict.FAIL),
        # replaced for failing a health check: judged even inside the grace period
        ((replaced("i-a"), replaced("i-b")), IN_SERVICE + 10, 2, Verdict.FAIL),
        ((replaced("i-a"), unhealthy("i-b")), IN_SERVICE + 10, 2, Verdict.FAIL),  # cap: 1 judged
        ((replaced("i-a"), unhealthy("i-b")), AFTER_GRACE, 2, Verdict.FAIL),
        ((replaced("i-a"), new_instance("i-b", in_service_at=None)), AFTER_GRACE, 2, Verdict.FAIL),
        ((replaced("i-a"), new_instance("i-b")), AFTER_GRACE, 2, Verdict.PASS),
        ((replaced("i-a"), new_instance("i-b"), replaced("i-c")), AFTER_GRACE, 2, Verdict.FAIL),
        # initial after the grace: judged, not failed
        ((new_instance("i-a", target_state="initial"),), AFTER_GRACE, 2, Verdict.PASS),
        ((new_instance("i-a", in_service_at=None, launched_at=START + 5),), AFTER_GRACE, 2,
         Verdict.PENDING),
        ((), AFTER_GRACE, 2, Verdict.PENDING),
        # an old instance unhealthy is not the new version's failure
        ((old_instance(), new_instance("i-a")), AFTER_GRACE, 1, Verdict.PASS),
    ],
)  # fmt: skip
def test_new_instance_verdicts(instances, observed_at, limit, verdict):
    observed = inputs(instances=instances, observed_at=observed_at)
    result = judge_instances(spec(unhealthy_instances=limit), observed)
    assert result.signal is Signal.NEW_INSTANCES
    assert result.verdict is verdict, result.message


def test_unhealthy_old_instance_is_not_counted():
    old = old_instance()
    sick_old = dataclasses.replace(old, target_state="unhealthy")
    observed = inputs(instances=(sick_old,), observed_at=AFTER_GRACE)
    assert judge_instances(spec(unhealthy_instances=1), observed).verdict is Verdict.PENDING


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        (
            (unhealthy("i-0abc"), replaced("i-0def")),
            "2 new instances failed their health checks after the 300 s grace period"
            " (i-0abc: Target.Timeout; i-0def: replaced by Auto Scaling)",
        ),
        (
            (unhealthy("i-0abc", reason=""),),
            "1 new instance failed its health checks after the 300 s grace period"
            " (i-0abc: unhealthy)",
        ),
        ((new_instance("i-a"),), "1 new instance healthy after the 300 s grace period"),
        (
            (new_instance("i-a"), new_instance("i-b"), unhealthy("i-c")),
            "2 new instances healthy after the 300 s grace period, 1 failed"
            " (i-c: Target.Timeout), 2 would fail the rollout",
        ),
        (
            (new_instance("i-a", in_service_at=IN_SERVICE + 1),),
            "new-instance health pending: no new instance past the 300 s grace period yet",
        ),
        ((old_instance(),), "new-instance health pending: no new instance launched yet"),
    ],
)
def test_new_instance_messages(instances, message):
    observed = inputs(instances=instances, observed_at=AFTER_GRACE)
    assert judge_instances(spec(), observed).message == message


def test_unreadable_activities_are_inconclusive_even_with_failures():
    observed = inputs(
        instances=(unhealthy("i-a"), unhealthy("i-b")),
        observed_at=AFTER_GRACE,
        activities_error="Throttling: Rate exceeded",
    )
    result = judge_instances(spec(), observed)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "Throttling: Rate exceeded" in result.message


def test_a_grace_period_of_zero_judges_at_once():
    observed = inputs(instances=(unhealthy("i-a"),), grace_period=0, observed_at=IN_SERVICE)
    result = judge(spec(), observed, alarm_names=())
    assert result.signal(Signal.NEW_INSTANCES).verdict is Verdict.FAIL  # type: ignore[union-attr]
    assert "after the 0 s grace period" in result.message
