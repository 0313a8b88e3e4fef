"""The seed's UserData: the boot script of the architecture the product replaces.

It pulls the MUTABLE tag at boot (``IMAGE_TAG="latest"``), which is flaw 1 of the brief: two
instances launched from the same launch template version can run different images.
"""

from __future__ import annotations

from string import Template

_SCRIPT = Template(
    """#!/bin/bash
# feedback service (simple-api) boot script, as the seed's deploy workflow writes it.
set -euo pipefail

REGION="${region}"
REGISTRY="${registry}"
IMAGE_TAG="latest"

yum install -y docker
systemctl enable --now docker

aws ecr get-login-password --region "$${REGION}" \\
  | docker login --username AWS --password-stdin "$${REGISTRY}"

docker pull ${repository}:$${IMAGE_TAG}
docker rm -f simple-api 2>/dev/null || true
docker run -d --restart always -p 8080:8080 --name simple-api \\
  -e SPRING_PROFILES_ACTIVE=prod \\
  ${repository}:$${IMAGE_TAG}
"""
)


def render(*, registry: str, repository: str, region: str) -> str:
    """``repository`` is the full image name without tag, e.g. ``<registry>/simple-api``."""
    return _SCRIPT.substitute(registry=registry, repository=repository, region=region)
