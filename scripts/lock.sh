#!/usr/bin/env bash
# Regenerate the hash-locked requirements the image build installs (uv, from the dev extra):
#   requirements.lock        the runtime dependencies of pyproject.toml, no extras (no moto)
#   requirements-build.lock  the build backend (setuptools, setuptools-scm, wheel)
# --universal: one lock for every Python >= 3.11 and platform the image may be built on, with
# environment markers, and each pinned version's hashes for all of its files.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-.venv/bin/uv}
common=(--generate-hashes --universal --python-version 3.11 --quiet
  --custom-compile-command scripts/lock.sh)
"$uv" pip compile "${common[@]}" pyproject.toml -o requirements.lock
"$uv" pip compile "${common[@]}" deploy/image/build-requirements.in -o requirements-build.lock
echo "lock: requirements.lock requirements-build.lock"
