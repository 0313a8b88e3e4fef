"""The seed's container images: small, distinct OCI manifests pushed to the sandbox's ECR.

Each version gets its own manifest, so its own digest. Digests are what AWS computes, the sha256
of the manifest bytes (moto would otherwise derive one from the layer digests). The same
manifests every time make digests stable across resets, so tests can compare them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from reconciler.aws import Aws

REPOSITORY = "simple-api"
# The seed's own builds, each also tagged sha-<7 hex> by its workflow.
BUILDS = ("v1.0", "v1.1", "v2.0")
# v2.1 and v1.2-slow came with issue 12's traffic (their behaviour is in ``behaviour``) and
# carry only their version tag. Manifests depend only on the version: older digests stay.
VERSIONS = (*BUILDS, "v2.1", "v1.2-slow")
# Mutable tags, as the seed's workflow leaves them after deploying v1.1 on top of v1.0.
ALIASES: Mapping[str, str] = {"latest": "v1.1", "previous": "v1.0"}
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


def manifest(version: str) -> str:
    config = _blob(f"{REPOSITORY} {version} config")
    layer = _blob(f"{REPOSITORY} {version} layer")
    body = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config,
            "size": 1024,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layer,
                "size": 4096,
            }
        ],
        "annotations": {"org.opencontainers.image.version": version},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def digest(manifest_text: str) -> str:
    return "sha256:" + hashlib.sha256(manifest_text.encode()).hexdigest()


def git_sha_tag(version: str) -> str:
    """The ``sha-<7 hex>`` tag the seed's workflow pushes next to each build."""
    return "sha-" + hashlib.sha1(f"{REPOSITORY} {version}".encode()).hexdigest()[:7]


def tags_by_version() -> dict[str, list[str]]:
    """Every tag each version carries."""
    tags = {v: [v, git_sha_tag(v)] if v in BUILDS else [v] for v in VERSIONS}
    for alias, version in ALIASES.items():
        tags[version].append(alias)
    return tags


def push(aws: Aws, repository: str = REPOSITORY) -> dict[str, str]:
    """Create the images and tags in ECR; returns tag -> digest."""
    pushed: dict[str, str] = {}
    for version, tags in tags_by_version().items():
        text = manifest(version)
        for tag in tags:
            aws.call(
                "ecr",
                "put_image",
                repositoryName=repository,
                imageManifest=text,
                imageManifestMediaType=MANIFEST_MEDIA_TYPE,
                imageTag=tag,
                imageDigest=digest(text),
            )
            pushed[tag] = digest(text)
    return pushed


def image_digests(aws: Aws, repository: str = REPOSITORY) -> dict[str, str]:
    """tag -> digest, as the registry reports it now (tags move; this reads them)."""
    found: dict[str, str] = {}
    for page in aws.pages("ecr", "describe_images", repositoryName=repository):
        for image in page["imageDetails"]:
            for tag in image.get("imageTags", []):
                found[tag] = image["imageDigest"]
    return found


def _blob(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()
