"""The canonical boot script, rendered from the shipped desired file and run by real bash.

``aws``, ``docker``, ``dnf``, ``yum``, ``systemctl`` and ``logger`` are stand-in programs on PATH
that record their arguments (and what a ``--password-stdin`` read) and fail on request, so each
test sees what an instance would run, in which order, and what it says when a step fails. The
console is a file: ``/dev/console`` in the rendered text is pointed at it, the one edit made.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler import desired
from reconciler.images import userdata
from reconciler.model import ResolvedImage, ServiceSpec

ROOT = Path(__file__).resolve().parent.parent
DIGEST = "sha256:" + "5e" * 32
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
SEP = "\x1f"

_STUB = r"""#!/bin/bash
name=$(basename "$0")
{ printf '%s' "$name"; printf '\x1f%s' "$@"; printf '\n'; } >> "$STUB_CALLS"
for arg in "$@"; do
  if [ "$arg" = --password-stdin ]; then printf 'stdin\x1f%s\n' "$(cat)" >> "$STUB_CALLS"; fi
done
case " $STUB_FAIL " in *" $name:$1 "*) echo "$name $1: simulated failure" >&2; exit 1;; esac
if [ "$name" = aws ]; then echo "token-$1-$2"; fi
"""
_PROGRAMS = ("aws", "docker", "dnf", "yum", "systemctl", "logger")


@dataclass(frozen=True)
class Boot:
    code: int
    calls: list[list[str]]
    stderr: str
    console: str

    def ran(self, *prefix: str) -> bool:
        return any(call[: len(prefix)] == list(prefix) for call in self.calls)

    def index(self, *prefix: str) -> int:
        return next(i for i, c in enumerate(self.calls) if c[: len(prefix)] == list(prefix))

    def logged_in_with(self) -> tuple[int, str]:
        """When ``docker login`` finished reading its password, and the password. A pipeline's
        two sides start together, so only the end of the read orders the login."""
        index = self.index("stdin")
        return index, self.calls[index][1]


def service(
    tmp_path: Path, *, repository: str, replace: tuple[str, str] | None = None
) -> ServiceSpec:
    """The shipped desired file (and template) in ``tmp_path``, its image at ``repository``."""
    shutil.copy(ROOT / "desired" / "feedback-userdata.sh", tmp_path)
    text = (ROOT / "desired" / "desired.yaml").read_text()
    text = text.replace("ghcr.io/johnhuh619/simple-api", repository)
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    (tmp_path / "desired.yaml").write_text(text)
    (spec,) = desired.load([tmp_path / "desired.yaml"]).services
    return spec


def boot(tmp_path: Path, spec: ServiceSpec, *, fail: str = "") -> Boot:
    image = ResolvedImage(spec.image.repository, spec.image.tag, DIGEST)
    rendered = userdata.render(
        spec.launch_template.template,
        image=image,
        service=spec.name,
        region=spec.region,
        spec=spec.boot,
    )
    console = tmp_path / "console"
    console.write_text("")
    assert rendered.count("/dev/console") == 1
    script = tmp_path / "user-data.sh"
    script.write_text(rendered.replace("/dev/console", str(console)))
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for program in _PROGRAMS:
        (stubs / program).write_text(_STUB)
        (stubs / program).chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    env = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "STUB_CALLS": str(calls),
        "STUB_FAIL": fail,
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        ["bash", str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    lines = calls.read_text().splitlines()
    return Boot(
        done.returncode, [line.split(SEP) for line in lines], done.stderr, console.read_text()
    )


def test_an_ecr_image_logs_in_with_the_instance_role_then_pulls_then_runs(tmp_path: Path) -> None:
    spec = service(tmp_path, repository=f"{ECR}/simple-api")
    result = boot(tmp_path, spec)
    assert result.code == 0, result.stderr
    login = ["docker", "login", "--username", "AWS", "--password-stdin", ECR]
    # The registry's own region (eu-west-1), not the service's (us-east-1).
    assert result.ran("aws", "ecr", "get-login-password", "--region", "eu-west-1")
    assert result.ran(*login)
    read, password = result.logged_in_with()
    assert password == "token-ecr-get-login-password"
    assert read < result.index("docker", "pull")
    pinned = f"{ECR}/simple-api@{DIGEST}"
    assert ["docker", "pull", pinned] in result.calls
    run = result.calls[result.index("docker", "run")]
    assert run[-3:] == ["-e", "SPRING_PROFILES_ACTIVE=prod", pinned]
    assert result.console == ""
    assert not result.ran("logger")


def test_a_ghcr_image_logs_in_with_the_token_in_parameter_store(tmp_path: Path) -> None:
    spec = service(tmp_path, repository="ghcr.io/johnhuh619/simple-api")
    result = boot(tmp_path, spec)
    assert result.code == 0, result.stderr
    read = [
        "aws", "ssm", "get-parameter", "--region", "us-east-1", "--name", "/feedback/ghcr-token",
        "--with-decryption", "--query", "Parameter.Value", "--output", "text",
    ]  # fmt: skip
    login = ["docker", "login", "--username", "johnhuh619", "--password-stdin", "ghcr.io"]
    assert result.ran(*read) and result.ran(*login)
    done, password = result.logged_in_with()
    assert password == "token-ssm-get-parameter"
    assert done < result.index("docker", "pull")


def test_a_secrets_manager_arn_is_read_in_its_own_region(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-central-1:210987654321:secret:ghcr-token-AbCdEf"
    spec = service(
        tmp_path,
        repository="ghcr.io/johnhuh619/simple-api",
        replace=("ssmParameter: /feedback/ghcr-token", f"secretsManager: {arn}"),
    )
    result = boot(tmp_path, spec)
    assert result.code == 0, result.stderr
    assert result.ran(
        "aws", "secretsmanager", "get-secret-value", "--region", "eu-central-1", "--secret-id", arn
    )
    assert result.logged_in_with()[1] == "token-secretsmanager-get-secret-value"


@pytest.mark.parametrize(
    ("fail", "says", "never"),
    [
        ("aws:ecr", f"cannot log in to {ECR}", "pull"),
        ("docker:login", f"cannot log in to {ECR}", "pull"),
        ("docker:pull", f"cannot pull {ECR}/simple-api@{DIGEST}", "run"),
        ("docker:run", f"cannot start {ECR}/simple-api@{DIGEST}", None),
        ("dnf:install yum:install", "exited 1", "login"),
        ("systemctl:enable", "systemctl enable --now docker exited 1", "login"),
    ],
)
def test_a_failed_step_stops_the_boot_loudly(
    tmp_path: Path, fail: str, says: str, never: str | None
) -> None:
    spec = service(tmp_path, repository=f"{ECR}/simple-api")
    result = boot(tmp_path, spec, fail=fail)
    assert result.code != 0
    assert "feedback boot failed: " in result.console and says in result.console
    assert says in result.stderr
    logged = result.calls[result.index("logger")]
    assert logged[:5] == ["logger", "-t", "feedback-boot", "-p", "user.err"]
    assert says in logged[5]
    if never:
        assert not result.ran("docker", never)


@pytest.mark.parametrize(
    "value",
    [
        "$(touch pwned)",
        "`touch pwned`",
        "a b; touch pwned",
        'it\'s "quoted" & | > pwned',
        "${HOME}",
        "",
        "ünïcode ✓",
    ],
)
def test_env_values_reach_docker_as_one_literal_word(tmp_path: Path, value: str) -> None:
    quoted = "'" + value.replace("'", "''") + "'"  # a YAML single-quoted scalar
    spec = service(
        tmp_path,
        repository=f"{ECR}/simple-api",
        replace=(
            "SPRING_PROFILES_ACTIVE: prod",
            f"SPRING_PROFILES_ACTIVE: prod\n    ODD: {quoted}",
        ),
    )
    result = boot(tmp_path, spec)
    assert result.code == 0, result.stderr
    run = result.calls[result.index("docker", "run")]
    assert run[-5:-1] == ["-e", "SPRING_PROFILES_ACTIVE=prod", "-e", f"ODD={value}"]
    assert not (tmp_path / "pwned").exists()
    assert not any(p.name == "pwned" for p in tmp_path.iterdir())


def test_a_public_image_is_pulled_without_a_login(tmp_path: Path) -> None:
    spec = service(
        tmp_path,
        repository="docker.io/library/nginx",
        replace=(
            "    pullCredentials:             # GHCR: a token the instances read at boot (ECR needs"
            " none)\n      username: johnhuh619\n      ssmParameter: /feedback/ghcr-token\n",
            "",
        ),
    )
    result = boot(tmp_path, spec)
    assert result.code == 0, result.stderr
    assert not result.ran("docker", "login")
    assert not result.ran("aws")
    assert ["docker", "pull", f"docker.io/library/nginx@{DIGEST}"] in result.calls


def test_the_example_templates_are_the_canonical_one() -> None:
    canonical = (ROOT / "desired" / "feedback-userdata.sh").read_bytes()
    assert (ROOT / "desired" / "examples" / "feedback-userdata.sh").read_bytes() == canonical
    assert (ROOT / "reconciler" / "examples").samefile(ROOT / "desired")
