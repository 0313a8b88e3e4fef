"""desired.load on what the boot script gets: spec.env, spec.image.pullCredentials, and template
bytes an instance would not boot (issue 17 #9: a CRLF template passed validate).

Each invalid case is an edit of the canonical file (or its template) with the field, the line
and a piece of the message it must be reported with; the CLI case runs ``reconciler validate``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler import desired
from reconciler.model import PullCredentials
from tests.test_desired import CANONICAL, TEMPLATE, edit, line_of, load_errors, write_service

ENV = "  env:                           # the app's environment: docker run -e, in ${DOCKER_ENV}\n"
PULL = "spec.image.pullCredentials"
UD = "spec.launchTemplate.userData"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/simple-api"


def with_env(*lines: str) -> str:
    return edit("    SPRING_PROFILES_ACTIVE: prod\n", "".join(f"    {x}\n" for x in lines))


def with_pull(*lines: str) -> str:
    old = "      username: johnhuh619\n      ssmParameter: /feedback/ghcr-token\n"
    return edit(old, "".join(f"      {x}\n" for x in lines))


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    field: str
    line: str  # a unique piece of text on the line
    message: str
    template: str | bytes = TEMPLATE


CASES = [
    Case("env-name-digit", with_env("1ST: x"), "spec.env.1ST", "1ST: x", "not a valid variable"),
    Case("env-name-dash", with_env("MY-VAR: x"), "spec.env.MY-VAR", "MY-VAR", "letters, digits"),
    Case("env-name-space", with_env('"A B": x'), "spec.env.A B", '"A B"', "not a valid variable"),
    Case("env-name-dollar", with_env("A$(id): x"), "spec.env.A$(id)", "A$(id)", "not a valid"),
    Case("env-number", with_env("PORT: 8080"), "spec.env.PORT", "PORT", "quote the value"),
    Case("env-bool", with_env("DEBUG: true"), "spec.env.DEBUG", "DEBUG", "expected text"),
    Case("env-null", with_env("EMPTY:"), "spec.env.EMPTY", "EMPTY", "expected text"),
    Case("env-list", with_env("L: [a]"), "spec.env.L", "L: [a]", "expected text"),
    Case("env-newline", with_env('NL: "a\\nb"'), "spec.env.NL", "NL:", "control character"),
    Case("env-tab", with_env('T: "a\\tb"'), "spec.env.T", "T:", "no newline, tab or NUL"),
    Case(
        "env-not-a-map",
        edit(ENV + "    SPRING_PROFILES_ACTIVE: prod\n", "  env: [a]\n"),
        "spec.env",
        "env: [a]",
        "expected a mapping",
    ),
    Case("pull-no-source", with_pull("username: me"), PULL, "pullCredentials", "exactly one of"),
    Case(
        "pull-both",
        with_pull("username: me", "ssmParameter: /a", "secretsManager: b"),
        PULL,
        "pullCredentials",
        "exactly one of",
    ),
    Case(
        "pull-no-username",
        with_pull("ssmParameter: /a"),
        f"{PULL}.username",
        "pullCredentials",
        "is required",
    ),
    Case(
        "pull-unknown",
        with_pull("username: me", "ssmParameter: /a", "password: hunter2"),
        f"{PULL}.password",
        "password: hunter2",
        "unknown field",
    ),
    Case(
        "pull-username-shell",
        with_pull("username: 'a;id'", "ssmParameter: /a"),
        f"{PULL}.username",
        "a;id",
        "not valid",
    ),
    Case(
        "ssm-bad-chars",
        with_pull("username: me", "ssmParameter: /a b"),
        f"{PULL}.ssmParameter",
        "/a b",
        "not a valid parameter name",
    ),
    Case(
        "ssm-reserved",
        with_pull("username: me", "ssmParameter: /aws/x"),
        f"{PULL}.ssmParameter",
        "/aws/x",
        "not starting with aws or ssm",
    ),
    Case(
        "ssm-empty-part",
        with_pull("username: me", "ssmParameter: /a//b"),
        f"{PULL}.ssmParameter",
        "/a//b",
        "not a valid parameter name",
    ),
    Case(
        "secret-bad-chars",
        with_pull("username: me", "secretsManager: 'x$(id)'"),
        f"{PULL}.secretsManager",
        "x$(id)",
        "not a valid secret",
    ),
    Case(
        "secret-bad-arn",
        with_pull("username: me", "secretsManager: 'arn:aws:s3:::b'"),
        f"{PULL}.secretsManager",
        "arn:aws:s3",
        "name or ARN",
    ),
    # Issue 17 #9 and the other bytes an instance would not boot.
    Case(
        "template-crlf",
        CANONICAL,
        UD,
        "userData",
        "template line 1: a CR (Windows line ending",
        template=TEMPLATE.replace("\n", "\r\n"),
    ),
    Case(
        "template-crlf-count",
        CANONICAL,
        UD,
        "userData",
        f"({len(TEMPLATE.splitlines())} lines hold one)",
        template=TEMPLATE.replace("\n", "\r\n"),
    ),
    Case(
        "template-one-cr",
        CANONICAL,
        UD,
        "userData",
        "template line 5: a CR",
        template=TEMPLATE.replace("pipefail\n", "pipefail\r\n"),
    ),
    Case(
        "template-old-mac",
        CANONICAL,
        UD,
        "userData",
        "'#!/bin/bash\\r'",
        template=TEMPLATE.replace("\n", "\r"),
    ),
    Case(
        "template-bom",
        CANONICAL,
        UD,
        "userData",
        "template line 1: a byte order mark",
        template=b"\xef\xbb\xbf" + TEMPLATE.encode(),
    ),
    Case(
        "template-bom-inside",
        CANONICAL,
        UD,
        "userData",
        "template line 3: a byte order mark",
        template="#!/bin/bash\n\n\ufeffdocker run ${IMAGE}\n",
    ),
    Case(
        "template-nul",
        CANONICAL,
        UD,
        "userData",
        "template line 2: the control character U+0000",
        template="#!/bin/bash\necho a\x00b\ndocker run ${IMAGE}\n",
    ),
    Case(
        "template-escape",
        CANONICAL,
        UD,
        "userData",
        "U+001B",
        template="#!/bin/bash\necho \x1b[31m\ndocker run ${IMAGE}\n",
    ),
    Case(
        "template-form-feed",
        CANONICAL,
        UD,
        "userData",
        "LF line endings",
        template="#!/bin/bash\n\x0c\ndocker run ${IMAGE}\n",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_invalid_boot_fields_are_reported_at_their_key(case: Case, tmp_path: Path) -> None:
    path = write_service(tmp_path, case.text, template=case.template)
    errors = load_errors([path])
    line = line_of(case.text, case.line)
    located = [p for p in errors if p.field == case.field and p.line == line]
    assert located, f"no error at {case.field} line {line}; got:\n" + "\n".join(map(str, errors))
    assert any(case.message in str(p) for p in located), "\n".join(map(str, located))
    assert len(errors) == 1, "\n".join(map(str, errors))


@pytest.mark.parametrize(
    "template",
    [
        TEMPLATE.replace("set -euo", "\tset -euo"),  # a tab is fine
        TEMPLATE + "# ünïcode ✓ is fine\n",
        TEMPLATE.removesuffix("\n"),  # no final newline
    ],
)
def test_templates_with_harmless_bytes_pass(template: str, tmp_path: Path) -> None:
    path = write_service(tmp_path, CANONICAL, template=template)
    (service,) = desired.load([path]).services
    assert service.launch_template.template == template


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ("username: me", "ssmParameter: feedback-token"),
            ("me", "ssmParameter", "feedback-token"),
        ),
        (
            ("username: me@x.io", "secretsManager: ghcr/token"),
            ("me@x.io", "secretsManager", "ghcr/token"),
        ),
        (
            (
                "username: u",
                "secretsManager: arn:aws:secretsmanager:eu-west-1:123456789012:secret:t-AbC",
            ),
            ("u", "secretsManager", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:t-AbC"),
        ),
    ],
)
def test_valid_pull_credentials_load(
    lines: tuple[str, ...], expected: tuple[str, str, str], tmp_path: Path
) -> None:
    (service,) = desired.load([write_service(tmp_path, with_pull(*lines))]).services
    assert service.boot.pull_credentials == PullCredentials(*expected)


def test_env_keeps_the_files_order_and_values_exactly(tmp_path: Path) -> None:
    text = with_env("Z_LAST: 'a b'", 'A_FIRST: "it\'s $(x)"', "EMPTY: ''", "_U: ünï")
    (service,) = desired.load([write_service(tmp_path, text)]).services
    assert service.boot.env == (
        ("Z_LAST", "a b"),
        ("A_FIRST", "it's $(x)"),
        ("EMPTY", ""),
        ("_U", "ünï"),
    )


def test_no_env_and_no_credentials_is_valid(tmp_path: Path) -> None:
    text = edit(ENV + "    SPRING_PROFILES_ACTIVE: prod\n", "")
    text = edit("    pullCredentials:", "    x-removed:", text).replace("    x-removed:", "", 1)
    text = text.replace(
        "      username: johnhuh619\n      ssmParameter: /feedback/ghcr-token\n", ""
    )
    loaded = desired.load([write_service(tmp_path, text)])
    (service,) = loaded.services
    assert service.boot.env == () and service.boot.pull_credentials is None


@pytest.mark.parametrize("name", ["DB_PASSWORD", "API_TOKEN", "github_secret", "AWS_API_KEY"])
def test_a_secret_looking_variable_is_a_warning(name: str, tmp_path: Path) -> None:
    text = with_env(f"{name}: hunter2")
    loaded = desired.load([write_service(tmp_path, text)])
    (warning,) = loaded.warnings
    assert (warning.field, warning.line) == (f"spec.env.{name}", line_of(text, name))
    assert "UserData is readable" in warning.message


def test_pull_credentials_on_ecr_are_a_warning_not_a_login(tmp_path: Path) -> None:
    text = edit("ghcr.io/johnhuh619/simple-api", ECR)
    loaded = desired.load([write_service(tmp_path, text)])
    (warning,) = loaded.warnings
    assert (warning.field, warning.line) == (PULL, line_of(text, "pullCredentials"))
    assert "ignored" in warning.message and "instance role" in warning.message


def test_validate_refuses_a_crlf_template_with_file_line_and_no_traceback(tmp_path: Path) -> None:
    path = write_service(tmp_path, CANONICAL, template=TEMPLATE.replace("\n", "\r\n"))
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done
    expected = f"{path}:{line_of(CANONICAL, 'userData')}: error: {UD}: the template"
    assert expected in done.stdout + done.stderr
    assert "dos2unix" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
