"""``reconciler history`` pages through AWS's refresh history until every version the
reconciler made has its outcome (issue 17 #13): a tick reads only what it needs (the running
version's refresh), a history asks for all of them."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.aws import Aws
from reconciler.sandbox import Sandbox, Seeded
from tests import sandbox_calls
from tests.test_commands import apply_wait, cli, converge
from tests.test_scenarios import desired_file

CANCELLED = 115  # more than the first two pages (10 + 100) hold


def test_history_keeps_every_versions_outcome_past_the_pages_a_tick_reads(
    frozen: Sandbox, aws: Aws, seeded: Seeded, tmp_path: Path
) -> None:
    first = int(converge(frozen, aws, tmp_path))
    for _ in range(CANCELLED):  # by hand, to the seed's own version: none of them ours
        sandbox_calls.start_refresh(aws, seeded, 1, {"MinHealthyPercentage": 0})
        aws.call("autoscaling", "cancel_instance_refresh", AutoScalingGroupName="feedback-asg")
        frozen.clock.advance(60)
    path = desired_file(tmp_path, "v1.0")
    done = apply_wait(frozen, path)
    assert done.code == 0, done.out
    code, out, err = cli(frozen, "history", "feedback", "-f", str(path), "--output", "json")
    assert code == 0, err
    outcomes = {r["launch_template_version"]: r["outcome"] for r in json.loads(out)}
    assert outcomes[first] == "Successful", outcomes  # 117 refreshes back
    assert outcomes[first + 1] == "Successful", outcomes
