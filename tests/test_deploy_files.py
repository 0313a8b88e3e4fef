"""What ships the reconciler: Dockerfile, compose file, systemd unit, IAM policies (the
workflows: test_workflows.py).

- IAM: valid JSON; every action a real AWS operation (botocore's service models), and every
  operation the reconciler calls allowed by the daemon policy (the read ones by the PR policy);
  writes scoped by the owner tag.
- compose.yaml and the systemd unit parse and keep their promises (restart, volume, read-only
  docker config, hardening).
- hadolint is clean. It is skipped only when missing and not under CI.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore import xform_name

from reconciler import cli

ROOT = Path(__file__).resolve().parent.parent
IAM = ROOT / "deploy" / "iam"
DAEMON_POLICY = IAM / "reconciler-daemon.json"
PR_POLICY = IAM / "reconciler-pr-diff.json"
OWNER_TAG = "aws:ResourceTag/asg-reconciler/owner"

# IAM's service prefix → botocore's service name.
PREFIXES = {
    "autoscaling": "autoscaling",
    "ec2": "ec2",
    "elasticloadbalancing": "elbv2",
    "ecr": "ecr",
    "cloudwatch": "cloudwatch",
    "dynamodb": "dynamodb",
    "iam": "iam",
    "sts": "sts",
}
# Permissions AWS checks that are no API operation of their own.
PERMISSION_ONLY = {"iam:PassRole"}
# Code that calls Aws.call with an operation held in a variable: (file, helper) → service.
INDIRECT = {("lease.py", "_write"): "dynamodb"}


# ------------------------------------------------------------------------------------------------
# IAM
# ------------------------------------------------------------------------------------------------


@cache
def operations(service: str) -> frozenset[str]:
    model = botocore.session.get_session().get_service_model(service)
    return frozenset(model.operation_names)


def policy(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def statements(path: Path) -> list[dict[str, Any]]:
    found = policy(path)["Statement"]
    return found if isinstance(found, list) else [found]


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def allowed(path: Path) -> set[str]:
    return {a for s in statements(path) if s["Effect"] == "Allow" for a in actions_of(s)}


def iam_action(service: str, operation: str) -> str:
    """``("elbv2", "describe_tags")`` → ``elasticloadbalancing:DescribeTags``."""
    prefix = next(p for p, s in PREFIXES.items() if s == service)
    name = next((o for o in operations(service) if xform_name(o) == operation), None)
    assert name is not None, f"{service}.{operation} is no botocore operation"
    return f"{prefix}:{name}"


def reconciler_calls() -> set[tuple[str, str, str]]:
    """(path under reconciler/, service, operation) of every ``aws.call``/``aws.pages`` outside
    the sandbox."""
    found: set[tuple[str, str, str]] = set()
    for file in sorted((ROOT / "reconciler").rglob("*.py")):
        if "sandbox" in file.parts:
            continue
        tree = ast.parse(file.read_text())
        where = str(file.relative_to(ROOT / "reconciler"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            args = [a.value if isinstance(a, ast.Constant) else None for a in node.args[:2]]
            if node.func.attr in ("call", "pages") and len(args) == 2:
                service, operation = args
                if isinstance(service, str) and isinstance(operation, str):
                    found.add((where, service, operation))
                elif isinstance(service, str):
                    helper = _enclosing_function(tree, node)
                    assert (file.name, helper) in INDIRECT, (
                        f"{file.name}:{node.lineno}: {service} operation from a variable; "
                        "add the helper to INDIRECT so its callers are checked"
                    )
            indirect = INDIRECT.get((file.name, node.func.attr))
            if indirect and args and isinstance(args[0], str):
                found.add((where, indirect, args[0]))
    return found


def _enclosing_function(tree: ast.AST, target: ast.AST) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(n is target for n in ast.walk(node)):
            inner = [
                f.name
                for f in ast.walk(node)
                if isinstance(f, ast.FunctionDef)
                and f is not node
                and any(n is target for n in ast.walk(f))
            ]
            return inner[-1] if inner else node.name
    return "?"


def test_the_calls_scan_finds_the_pipeline() -> None:
    calls = {(s, o) for _, s, o in reconciler_calls()}
    assert ("autoscaling", "start_instance_refresh") in calls
    assert ("ec2", "create_launch_template_version") in calls
    assert ("dynamodb", "put_item") in calls  # through Lease._write
    assert len(calls) >= 20


@pytest.mark.parametrize("path", sorted(IAM.glob("*.json")), ids=lambda p: p.name)
def test_iam_policy_is_valid_and_names_real_actions(path: Path) -> None:
    data = policy(path)
    assert data["Version"] == "2012-10-17"
    sids = [s.get("Sid") for s in statements(path)]
    assert len(sids) == len(set(sids)), "duplicate Sid"
    for statement in statements(path):
        assert statement["Effect"] in ("Allow", "Deny")
        assert re.fullmatch(r"[A-Za-z0-9]+", statement["Sid"]), statement["Sid"]
        for action in actions_of(statement):
            prefix, _, name = action.partition(":")
            assert prefix in PREFIXES, f"{action}: unknown service prefix"
            assert "*" not in name, f"{action}: no wildcards in actions"
            if action not in PERMISSION_ONLY:
                assert name in operations(PREFIXES[prefix]), f"{action} is no AWS operation"


def test_daemon_policy_allows_every_call_the_reconciler_makes() -> None:
    permitted = allowed(DAEMON_POLICY)
    missing = {
        f"{iam_action(s, o)} ({f})"
        for f, s, o in reconciler_calls()
        if iam_action(s, o) not in permitted
    }
    assert not missing, f"the daemon policy lacks: {sorted(missing)}"


def test_daemon_policy_allows_nothing_the_reconciler_does_not_call() -> None:
    called = {iam_action(s, o) for _, s, o in reconciler_calls()}
    # Checked by AWS when a group is pointed at a launch template version (see iam/README.md).
    implied = {"ec2:RunInstances", "ec2:CreateTags", "iam:PassRole"}
    assert allowed(DAEMON_POLICY) - called <= implied


def test_pr_policy_allows_the_diff_reads_and_no_write() -> None:
    diff_reads = ("pipeline/observe/", "images/")  # what a one-shot diff calls
    reads = {iam_action(s, o) for f, s, o in reconciler_calls() if f.startswith(diff_reads)}
    permitted = allowed(PR_POLICY)
    assert len(reads) >= 8, reads  # the batched describes and the image lookups, never none
    assert reads <= permitted
    assert permitted == reads
    assert all(a.split(":")[1].startswith(("Describe", "Get", "List")) for a in permitted)


def test_daemon_writes_are_scoped_by_the_owner_tag() -> None:
    for statement in statements(DAEMON_POLICY):
        writes = [
            a
            for a in actions_of(statement)
            if not a.split(":")[1].startswith(("Describe", "Get", "List"))
        ]
        if not writes:
            continue
        condition = json.dumps(statement.get("Condition", {}))
        resource = statement["Resource"]
        scoped_by_tag = OWNER_TAG in condition
        by_name = "dynamodb" in writes[0] or "iam:" in writes[0]
        # Blue/green's weight writes: on the listeners of one load balancer, named (the
        # listener is not the reconciler's to tag; its ids stay wildcards).
        by_balancer = writes[0] in (
            "elasticloadbalancing:ModifyListener",
            "elasticloadbalancing:ModifyRule",
        )
        launch_only = "ec2:LaunchTemplate" in condition or "ec2:CreateAction" in condition
        assert scoped_by_tag or by_name or by_balancer or launch_only, statement["Sid"]
        if by_name:
            assert "*" not in str(resource).rsplit("/", 1)[-1], statement["Sid"]
        if by_balancer:
            for arn in resource:  # .../listener/<type>/<load balancer name>/<ids>
                assert "*" not in arn.split("/")[2], statement["Sid"]
        for key in ("UpdateAutoScalingGroup", "CreateLaunchTemplateVersion", "ModifyTargetGroup"):
            if any(a.endswith(f":{key}") for a in writes):
                assert '"StringEquals": {"' + OWNER_TAG in condition, statement["Sid"]


# ------------------------------------------------------------------------------------------------
# compose and systemd
# ------------------------------------------------------------------------------------------------


def test_compose_file() -> None:
    data = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    service = data["services"]["reconciler"]
    assert service["restart"] in ("unless-stopped", "always")
    assert service["command"][0] == "run"
    volumes = service["volumes"]
    named = [v.split(":")[0] for v in volumes if not v.startswith(("/", ".", "$", "~"))]
    assert named and all(n in data["volumes"] for n in named)
    assert any(v.endswith(":/var/lib/asg-reconciler") for v in volumes)  # the git cache
    docker_config = [v for v in volumes if ":/run/docker-config" in v]
    assert docker_config and docker_config[0].endswith(":ro")
    assert service["environment"]["DOCKER_CONFIG"] == "/run/docker-config"
    assert any(str(p).endswith(":9090") for p in service["ports"])
    env = service["environment"]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert env[name] is None  # passed through from the host, never written here
    assert service["read_only"] is True
    assert "ALL" in service["cap_drop"]


def systemd_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[([A-Za-z]+)\]", line)
        if header:
            current = sections.setdefault(header.group(1), [])
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep and re.fullmatch(r"[A-Za-z]+", key), (number, raw)
        current.append((key, value))
    return sections


def test_systemd_unit() -> None:
    sections = systemd_sections((ROOT / "deploy" / "asg-reconciler.service").read_text())
    assert set(sections) == {"Unit", "Service", "Install"}
    service = dict(sections["Service"])
    assert " run " in service["ExecStart"] + " "
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    for key, value in {
        "DynamicUser": "yes",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[key] == value, key
    assert dict(sections["Install"])["WantedBy"] == "multi-user.target"


# ------------------------------------------------------------------------------------------------
# Dockerfile
# ------------------------------------------------------------------------------------------------


def test_dockerfile_shape() -> None:
    lines = [
        line
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "ARG BASE_IMAGE=python:3.12-slim"
    assert lines[1].startswith("FROM ${BASE_IMAGE}")
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) == 2  # a builder and the final stage
    final = lines[lines.index(froms[-1]) :]
    text = "\n".join(final)
    assert "COPY --from=builder" in text
    assert not re.search(r"\b(gcc|build-essential|pip install)\b", text)
    assert "git" in text and "openssh-client" in text
    user = next(line for line in final if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["reconciler"]' in final
    assert final[-1].startswith('CMD ["run"')
    assert "/healthz" in next(line for line in final if "urlopen" in line)


def test_run_reads_its_flags_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The image's CMD is just ``run``: the Dockerfile's RECONCILER_* variables configure it."""
    env = {
        "RECONCILER_REPO": "https://example.invalid/desired.git",
        "RECONCILER_BRANCH": "prod",
        "RECONCILER_PATH": "services/",
        "RECONCILER_INTERVAL": "1m",
        "RECONCILER_LISTEN": "0.0.0.0:9191",
        "RECONCILER_CACHE_DIR": "/var/lib/asg-reconciler/git",
        "RECONCILER_LEASE_TABLE": "",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = cli.build_parser().parse_args(["run"])
    assert (args.repo, args.branch, args.path) == (
        "https://example.invalid/desired.git",
        "prod",
        "services/",
    )
    assert (args.interval, args.listen, args.cache_dir) == (
        "1m",
        "0.0.0.0:9191",
        env["RECONCILER_CACHE_DIR"],
    )
    assert args.lease_table is None  # empty means unset
    assert cli.build_parser().parse_args(["run", "--branch", "main"]).branch == "main"
    monkeypatch.delenv("RECONCILER_REPO")
    with pytest.raises(Exception, match="--repo"):
        cli.build_parser().parse_args(["run"])


# ------------------------------------------------------------------------------------------------
# Linters
# ------------------------------------------------------------------------------------------------


def linter(name: str) -> str:
    found = shutil.which(
        name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed, and CI must run it (scripts/lint-deploy.sh)")
        pytest.skip(f"{name} is not installed")
    return found


def test_hadolint_is_clean() -> None:
    done = subprocess.run(
        [linter("hadolint"), "--config", ".hadolint.yaml", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
