#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine: system packages the tests use, and a virtualenv with
# the reconciler installed in it. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(git)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install: ${missing[*]}" >&2
    exit 1
  fi
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "setup: done (.venv/bin/reconciler is ready)"
