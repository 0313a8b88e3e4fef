#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine: system packages the tests use, and a virtualenv with
# the reconciler installed in it. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-system-packages.sh

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The sandbox extra too: the README's demo and the tests run moto's server.
.venv/bin/python -m pip install -q -e '.[sandbox,dev]'
echo "setup: done (.venv/bin/reconciler is ready)"
