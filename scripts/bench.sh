#!/usr/bin/env bash
# Run every benchmark against the in-process sandbox and regenerate BENCHMARKS.md (each script
# replaces only its own section). Figures are printed as JSON lines too; nothing asserts timing.
#   BENCH_SKIP_LARGE=1 ./scripts/bench.sh    skips the 500-service tick cost (about 15 minutes:
#                                            the sandbox answers each request in about a second
#                                            at that size, so the naive loop is not run there)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
for n in 1 10 100; do
    "$PY" benchmarks/tick_cost.py --services "$n" --write
done
"$PY" benchmarks/reaction.py --trials 5 --write
"$PY" benchmarks/rollout_durations.py --write
"$PY" benchmarks/analysis.py --write
"$PY" benchmarks/bluegreen.py --write
"$PY" benchmarks/footprint.py --services 10 --ticks 1000 --write
if [[ "${BENCH_SKIP_LARGE:-0}" != "1" ]]; then
    "$PY" benchmarks/tick_cost.py --services 500 --no-naive --write
fi
echo "BENCHMARKS.md updated"
