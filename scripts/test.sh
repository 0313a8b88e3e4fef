#!/usr/bin/env bash
# The test command the README gives and CI runs: lint, types, layering, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports
./scripts/lint-deploy.sh
.venv/bin/python -m pytest "$@"
