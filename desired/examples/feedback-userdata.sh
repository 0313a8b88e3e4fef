#!/bin/bash
# Boot script for the feedback service, rendered by asg-reconciler into the launch template's
# UserData. The image placeholder becomes repository@sha256:..., so an instance started by a
# scale-out months later runs the same bytes as one started by the rollout.
set -euo pipefail
dnf install -y docker || yum install -y docker
systemctl enable --now docker
docker pull ${IMAGE}
docker run -d --name ${SERVICE} --restart always -p 8080:8080 ${IMAGE}
