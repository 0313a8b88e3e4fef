#!/usr/bin/env bash
# Release artefacts, as CI builds them: `python -m build` makes the wheel and the sdist in dist/
# (the version from the git tag, setuptools-scm), then a fresh virtualenv installs the wheel
# from the index, without the [sandbox] extra, as a production host or the systemd unit does,
# and runs it: --help, validate, and sandbox's exit 5 naming the extra.
#
#   scripts/build-dist.sh            # dist/*.whl dist/*.tar.gz, checked
#   DIST_INSTALL=/opt/asg-reconciler scripts/build-dist.sh   # installed where the unit runs it,
#                                                            # and the unit verified against it
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist
.venv/bin/python -m build --outdir dist . >build-dist.log 2>&1 || { tail -n 30 build-dist.log >&2; exit 1; }
rm -f build-dist.log
ls -l dist
wheel=$(ls dist/asg_reconciler-*.whl)
target=${DIST_INSTALL:-$(mktemp -d)/venv}
python3 -m venv "$target"
"$target/bin/pip" install --quiet "$wheel"
"$target/bin/reconciler" --help >/dev/null
"$target/bin/reconciler" validate desired/
"$target/bin/python" -c 'import moto' 2>/dev/null && { echo "build-dist: moto installed without the extra" >&2; exit 1; }
code=0
"$target/bin/reconciler" sandbox 2>"$target/sandbox.txt" || code=$?
if [ "$code" != 5 ] || ! grep -q "asg-reconciler\[sandbox\]" "$target/sandbox.txt"; then
  cat "$target/sandbox.txt" >&2
  echo "build-dist: reconciler sandbox without the extra: exit $code, not 5 naming the extra" >&2
  exit 1
fi
echo "build-dist: $(basename "$wheel") installs and runs without the sandbox extra ($(du -sh "$target" | cut -f1) venv at $target)"
if [ "$target" = /opt/asg-reconciler ] && command -v systemd-analyze >/dev/null 2>&1; then
  echo "build-dist: systemd-analyze verify deploy/asg-reconciler.service (ExecStart: this install)"
  systemd-analyze verify --man=no deploy/asg-reconciler.service
fi
[ -n "${DIST_INSTALL:-}" ] || rm -rf "$(dirname "$target")"
