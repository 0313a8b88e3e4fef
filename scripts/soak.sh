#!/usr/bin/env bash
# The long reliability runs: the 1,000-tick soak with random drift between ticks (and anything
# else marked slow in tests/test_reliability.py). CI runs the short variants only.
set -euo pipefail
cd "$(dirname "$0")/.."
RECONCILER_SOAK=1 .venv/bin/python -m pytest -m slow -s -q tests/test_reliability.py "$@"
