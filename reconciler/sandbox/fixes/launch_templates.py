"""CreateLaunchTemplateVersion as AWS does it, and launch template tags that stay current.

moto 5.2.5 gets three things wrong on this call:
- it ignores SourceVersion: a new version holds only the data given, not the source's data;
- it stores UserData as the plain request string, where every other path stores moto's
  ``Base64EncodedString``; the next launch from that version fails an assertion (HTTP 500);
- it ignores ClientToken, so a retried request creates a second version.
And DescribeLaunchTemplates reports the tags a template had when it was created, not its tags now.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult
from moto.core.types import Base64EncodedString
from moto.ec2.exceptions import MissingParameterError
from moto.ec2.models.launch_templates import LaunchTemplate
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.ec2.utils import parse_user_data

from reconciler.sandbox.errors import IdempotentParameterMismatch
from reconciler.sandbox.patching import patch
from reconciler.sandbox.state import attached


@dataclass(frozen=True, slots=True)
class _TokenUse:
    request: str  # canonical form of the request the token was first used with
    template_id: str
    version_number: int


def install() -> None:
    patch(LaunchTemplates, "create_launch_template_version", _create_launch_template_version)
    patch(LaunchTemplate, "tags", property(_current_tags, _ignore_assignment))


def create_version(
    backend: Any,
    template: Any,
    *,
    data: dict[str, Any],
    description: str | None,
    source_version: str | None,
    client_token: str | None,
) -> Any:
    """Create (or, for a repeated ClientToken, return) a launch template version."""
    tokens: dict[str, _TokenUse] = attached(backend, "launch_template_tokens", dict)
    request = _canonical(template.id, data, description, source_version)
    if client_token and client_token in tokens:
        used = tokens[client_token]
        if used.request != request:
            raise IdempotentParameterMismatch(
                f"Client token {client_token} was already used with different parameters."
            )
        return backend.get_launch_template(used.template_id).get_version(used.version_number)
    merged = _inherit(template, source_version, data)
    version = template.create_version(merged, description)
    if client_token:
        tokens[client_token] = _TokenUse(request, template.id, version.number)
    return version


def _create_launch_template_version(self: Any) -> ActionResult:
    template = _template_from_request(self)
    self.error_on_dryrun()
    version = create_version(
        self.ec2_backend,
        template,
        data=self._get_param("LaunchTemplateData", {}),
        description=self._get_param("VersionDescription"),
        source_version=self._get_param("SourceVersion"),
        client_token=self._get_param("ClientToken"),
    )
    return ActionResult(
        {
            "LaunchTemplateVersion": {
                "CreateTime": version.create_time,
                "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                "DefaultVersion": template.is_default(version),
                "LaunchTemplateData": version.data,
                "LaunchTemplateId": template.id,
                "LaunchTemplateName": template.name,
                "VersionDescription": version.description,
                "VersionNumber": version.number,
            }
        }
    )


def _template_from_request(response: Any) -> Any:
    template_id = response._get_param("LaunchTemplateId")
    if template_id:
        return response.ec2_backend.get_launch_template(template_id)
    name = response._get_param("LaunchTemplateName")
    if name:
        return response.ec2_backend.get_launch_template_by_name(name)
    raise MissingParameterError("launch template ID or launch template name")


def _inherit(template: Any, source_version: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """The source version's data overlaid with what was given, top-level key by key (as AWS)."""
    merged: dict[str, Any] = {}
    if source_version is not None:
        merged = copy.deepcopy(template.get_version(source_version).data)
    merged.update(copy.deepcopy(data))
    user_data = merged.get("UserData")
    if isinstance(user_data, str | bytes):
        merged["UserData"] = parse_user_data(user_data)
    return merged


def _canonical(
    template_id: str, data: dict[str, Any], description: str | None, source: str | None
) -> str:
    def plain(value: Any) -> Any:
        return str(value) if isinstance(value, Base64EncodedString) else repr(value)

    body = {"template": template_id, "data": data, "description": description, "source": source}
    return json.dumps(body, sort_keys=True, default=plain)


def _current_tags(self: Any) -> list[dict[str, str]]:
    tags: list[dict[str, str]] = self.get_tags()
    return tags


def _ignore_assignment(self: Any, value: Any) -> None:
    """moto's __init__ assigns a snapshot of the tags; the property reads them live instead."""
