"""The demo's two stories, step by step: each step a commit (or a revert) and what must follow.

**rolling** (``desired/desired.yaml``, instance refreshes):

1. a healthy deploy of v1.1;
2. the broken v2.0, whose instances never pass their health checks: the analysis fails it once
   the grace period is over (AWS alone would retry them for an hour, aws-facts 1.5), rolls it
   back, and it is not retried;
3. a ``git revert`` that restores v1.1;
4. v2.1, the seed's own incident: healthy by its health check while 30% of requests answer 500.
   AWS never catches it; the analysis does, from the target group's 5xx rate in CloudWatch;
5. a ``git revert`` again, so git and AWS agree.

**blue-green** (``desired/examples/blue-green.yaml``, two groups behind weighted target groups):

1. deploy v1.1 onto the idle green side, shifting traffic 10% → 50% → 100%;
2. v2.1 onto the now idle blue side: caught at 10% by the canary analysis, and all traffic is
   back on green in the same tick, one listener write;
3. a ``git revert``: git says v1.1 again, which green still runs with all the traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.cli.demo_repo import revert, set_tag
from reconciler.pipeline.follow import Verdict


@dataclass(frozen=True)
class Step:
    title: str
    change: Callable[[Path], None] | None  # commits a change to the desired file at the path
    expect: Verdict
    bad_image: str = ""  # a bad release: measure its incident (the image tag)


@dataclass(frozen=True)
class Story:
    directory: str  # under the shipped desired/, holding ``file`` and its template
    file: str
    steps: tuple[Step, ...]
    closing: str


def _tag(tag: str) -> Callable[[Path], None]:
    return lambda path: set_tag(path, tag)


ROLLING = Story(
    directory=".",
    file="desired.yaml",
    steps=(
        Step("1. deploy v1.1 (the seed's healthy release)", None, Verdict.READY),
        Step(
            "2. deploy the broken v2.0 (its instances never pass their health checks)",
            _tag("v2.0"),
            Verdict.FAILED,
            bad_image="v2.0",
        ),
        Step("3. git revert: back to v1.1", revert, Verdict.READY),
        Step(
            "4. deploy v2.1 (the seed's incident: /actuator/health is UP, 30% of requests get 500)",
            _tag("v2.1"),
            Verdict.FAILED,
            bad_image="v2.1",
        ),
        Step("5. git revert: back to v1.1, git and AWS agree", revert, Verdict.READY),
    ),
    closing=(
        "Every step behaved: deploy, bad releases caught by the analysis and rolled back"
        " without retry loops, reverts."
    ),
)

BLUE_GREEN = Story(
    directory="examples",
    file="blue-green.yaml",
    steps=(
        Step(
            "1. deploy v1.1 onto the idle side, traffic in steps of 10% → 50% → 100%",
            None,
            Verdict.READY,
        ),
        Step(
            "2. deploy v2.1 (healthy by its health check, 30% of requests get 500) onto the"
            " idle side: caught at 10%, traffic flipped back",
            _tag("v2.1"),
            Verdict.FAILED,
            bad_image="v2.1",
        ),
        Step("3. git revert: back to v1.1, git and AWS agree", revert, Verdict.READY),
    ),
    closing=(
        "Every step behaved: a stepped deploy, a bad release caught at its first step and"
        " flipped back in one listener write, a revert."
    ),
)

STORIES = {"rolling": ROLLING, "blue-green": BLUE_GREEN}
