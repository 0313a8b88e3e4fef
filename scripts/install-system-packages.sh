#!/usr/bin/env bash
# System packages the tests need, installed only when missing (safe to run again):
#   docker-registry  Debian's distribution registry (/usr/bin/docker-registry): tests/test_images.py
#   apache2-utils    htpasswd, for the registry's bcrypt htpasswd file in the basic-auth tests
#   git              the daemon's source of desired state, and the tests' repositories
#   prometheus       promtool (/usr/bin/promtool): tests/test_alerts.py; its service is not started
#   chromium         the headless browser of the status page tests (tests/test_web_browser.py)
#   chromium-driver  /usr/bin/chromedriver, through which Selenium drives it
#   tini             the image's PID 1: tests/test_zombies.py runs a timed-out fetch under it
#   systemd          systemd-analyze verify/security on deploy/asg-reconciler.service
#                    (scripts/lint-deploy.sh); nothing here makes it the init or starts it
#   podman           podman-compose config validates deploy/compose.yaml (scripts/lint-deploy.sh)
#   shellcheck       actionlint checks the workflows' run: scripts with it (scripts/lint-deploy.sh)
# Debian's docker-registry package installs a systemd unit and an init script; nothing here starts
# them (the tests run their own registry on 127.0.0.1 with a config in a temp dir).
set -euo pipefail

packages=(docker-registry apache2-utils git prometheus chromium chromium-driver tini systemd podman shellcheck)
missing=()
for p in "${packages[@]}"; do
  # Status, not mere presence: a removed package whose config files remain still "exists".
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  # The demo needs none of these; only the test suite does (and fails under CI without them).
  echo "install-system-packages: not root, skipping; the tests need: ${missing[*]}" >&2
  exit 0
fi
apt-get update -qq
# Where systemd runs, the package's own registry service (on :5000) is stopped and disabled:
# the tests need none of it.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  systemctl disable --now docker-registry prometheus >/dev/null 2>&1 || true
fi
echo "install-system-packages: installed ${missing[*]}"
