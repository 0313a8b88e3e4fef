"""``spec.env`` and ``spec.image.pullCredentials``: read into a ``BootSpec``, and checked.

The schema checks their shape (a mapping of text; a username and exactly one of ``ssmParameter``
and ``secretsManager``). This module checks what goes into the boot script: each variable name
and value against the grammar ``images.boot`` renders safely, and a login that cannot work, with
the line of the very key at fault.
"""

from __future__ import annotations

import re

from reconciler.desired.document import IMAGE, Doc
from reconciler.desired.yamlload import FieldPath
from reconciler.images import boot
from reconciler.images.reference import InvalidReference, ecr_registry, parse
from reconciler.model import BootSpec, Problem, PullCredentials

ENV: FieldPath = ("spec", "env")
PULL: FieldPath = (*IMAGE, "pullCredentials")
_SOURCES = (boot.SSM_PARAMETER, boot.SECRETS_MANAGER)
# Names that usually hold a secret: UserData is no place for one.
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL", re.I)


def boot_spec(doc: Doc) -> BootSpec:
    """The document's env and pull credentials; values of the wrong type are left out (the
    schema reports them), so this serves the size check of a document with errors too."""
    env = doc.get(ENV)
    pairs = tuple(
        (name, value)
        for name, value in (env.items() if isinstance(env, dict) else ())
        if isinstance(name, str) and isinstance(value, str)
    )
    return BootSpec(env=pairs, pull_credentials=_credentials(doc))


def _credentials(doc: Doc) -> PullCredentials | None:
    username = doc.text((*PULL, "username"))
    for source in _SOURCES:
        name = doc.text((*PULL, source))
        if username is not None and name is not None:
            return PullCredentials(username, source, name)
    return None


def check(doc: Doc) -> list[Problem]:
    return [*_env(doc), *_pull(doc)]


def _env(doc: Doc) -> list[Problem]:
    env = doc.get(ENV)
    if not isinstance(env, dict):
        return []
    problems = []
    for name, value in env.items():
        where: FieldPath = (*ENV, str(name))
        reason = boot.env_name_error(str(name))
        if reason:
            problems.append(doc.at(where, reason, boot.ENV_NAME_ALLOWED))
        elif isinstance(value, str) and (reason := boot.env_value_error(value)):
            problems.append(doc.at(where, reason, boot.ENV_VALUE_ALLOWED))
        elif _SECRET_NAME.search(str(name)):
            message = (
                f"{name} looks like a secret: UserData is readable by anyone allowed"
                " ec2:DescribeLaunchTemplateVersions or ec2:DescribeInstanceAttribute"
            )
            allowed = (
                "a secret read at boot by the app, from SSM Parameter Store or Secrets Manager"
            )
            problems.append(doc.at(where, message, allowed, warning=True))
    return problems


def _pull(doc: Doc) -> list[Problem]:
    credentials = _credentials(doc)
    if credentials is None:
        return []
    problems = []
    wrong = boot.credentials_error(credentials)
    if wrong:
        problems.append(doc.at((*PULL, wrong[0]), wrong[1], wrong[2]))
    repository = doc.text((*IMAGE, "repository")) or ""
    try:
        registry = parse(repository).registry
    except InvalidReference:
        return problems  # the image's own check reports it
    if ecr_registry(registry):
        message = (
            f"ignored: {registry} is ECR, which the boot script logs in to with the instance"
            " role (aws ecr get-login-password)"
        )
        allowed = "no pullCredentials for an ECR repository"
        problems.append(doc.at(PULL, message, allowed, warning=True))
    return problems
