#!/bin/bash
# Boot script for the feedback service, rendered by asg-reconciler into the launch template's
# UserData. The image placeholder becomes repository@sha256:..., so an instance started by a
# scale-out months later runs the same bytes as one started by the rollout.
set -euo pipefail

# A failed step stops the boot loudly: on the console (EC2 "Get system log" and the serial
# console), in the journal and in cloud-init's log, then a non-zero exit marks the script failed.
boot_failed() {
  local message="${SERVICE} boot failed: $1"
  echo "$message" >&2
  logger -t ${SERVICE}-boot -p user.err "$message" || true
  { echo "$message" >/dev/console; } 2>/dev/null || true
  exit 1
}
trap 'boot_failed "line $LINENO: $BASH_COMMAND exited $?"' ERR

dnf install -y docker || yum install -y docker
systemctl enable --now docker

# The registry login, with the instance role: ECR's token, or the token spec.image.pullCredentials
# names in SSM Parameter Store or Secrets Manager. Never a secret in this file.
${REGISTRY_LOGIN} || boot_failed "cannot log in to ${REGISTRY} (instance role, token)"
docker pull ${IMAGE} || boot_failed "cannot pull ${IMAGE}"

docker rm -f ${SERVICE} 2>/dev/null || true
docker run -d --name ${SERVICE} --restart always -p 8080:8080 ${DOCKER_ENV} ${IMAGE} \
  || boot_failed "cannot start ${IMAGE}"
