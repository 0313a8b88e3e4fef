"""UserData templates: check them, and render them with a pinned image.

Pure functions, no I/O. A template is a boot script with placeholders written ``${NAME}``:

- ``${IMAGE}``: the pinned reference ``repository@sha256:...`` (what makes every instance run the
  same bytes, whenever it boots);
- ``${IMAGE_TAG}``: the tag the digest was resolved from, or empty when the spec pins a digest;
- ``${IMAGE_DIGEST}``: ``sha256:...``;
- ``${SERVICE}``: the service's name (``metadata.name``);
- ``${REGION}``: the service's region (``spec.region``);
- ``${REGISTRY}``: the image's registry, as ``docker login`` names it (``ghcr.io``);
- ``${REGISTRY_LOGIN}``: one pipeline logging docker in to that registry with the instance's
  role (``boot.login_command``: ECR's token, or a token from SSM or Secrets Manager);
- ``${DOCKER_ENV}``: ``-e NAME=value`` for each of ``spec.env``, shell-quoted.

``$${`` writes a literal ``${``, for shell code that needs its own ``${VAR}``. Any other ``${...}``
is an error: a typo would otherwise ship as text and surface only on a booting instance.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping

from reconciler.errors import InvalidDesiredState
from reconciler.images import boot
from reconciler.images.reference import image_errors
from reconciler.model import BootSpec, Problem, ResolvedImage

PLACEHOLDERS = (
    "IMAGE",
    "IMAGE_TAG",
    "IMAGE_DIGEST",
    "SERVICE",
    "REGION",
    "REGISTRY",
    "REGISTRY_LOGIN",
    "DOCKER_ENV",
)

# AWS: "User data is limited to 16 KB, in raw form, before it is base64-encoded" (EC2 User Guide).
# The base64 text AWS receives is then at most ceil(16384 / 3) * 4 = 21848 characters.
MAX_USER_DATA_BYTES = 16 * 1024

# Everything substituted into a boot script is checked against a grammar first, so no value can
# carry shell syntax (';', '$(', backticks, quotes, whitespace, newlines) into it.
_SERVICE_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
SERVICE_ALLOWED = (
    "1-63 lowercase letters, digits and '-', starting and ending with a letter or digit"
)


def service_error(value: str) -> str | None:
    if _SERVICE_RE.fullmatch(value):
        return None
    return f"{value!r} is not a valid service name"


# ----------------------------------------------------------------------------------------------
# Templates.
# ----------------------------------------------------------------------------------------------

# Bytes a boot script must not hold. cloud-init hands UserData starting with "#!" to the kernel
# as it is: a CR makes the interpreter "/bin/bash\r" (no such file, the boot stops), a byte order
# mark hides the "#!" so the script is not run at all, and other control characters are either
# the same mistake or invisible in review. Tab is fine.
_BOOT_BREAKING = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufeff]")
TEXT_ALLOWED = "UTF-8 text with LF line endings (no CR, byte order mark or control characters)"
_NAMES = {"\r": "a CR (Windows line ending, CRLF)", "\ufeff": "a byte order mark (U+FEFF)"}


def check_text(text: str, *, file: str, field: str, line: int) -> list[Problem]:
    """One problem for the first boot-breaking character of a template, with its template line
    and how many lines hold one (a CRLF file has them on every line)."""
    found = _BOOT_BREAKING.search(text)
    if found is None:
        return []
    char = found.group()
    what = _NAMES.get(char, f"the control character U+{ord(char):04X}")
    lines = {_line_at(text, m.start()) for m in _BOOT_BREAKING.finditer(text)}
    more = f" ({len(lines)} lines hold one)" if len(lines) > 1 else ""
    where = f"template line {_line_at(text, found.start())}"
    message = f"{where}: {what}{more}; an instance would not boot it"
    if char == "\r":
        message += " (its first line would run '#!/bin/bash\\r'); convert it with dos2unix"
    return [Problem(file, line, field, message, TEXT_ALLOWED)]


# `$$` escapes; `${...}` is a placeholder; an unclosed `${` on its line is reported, not ignored.
_TOKEN = re.compile(r"\$\$|\$\{([^}\n]*)(\}?)")


def _tokens(text: str) -> Iterator[re.Match[str]]:
    return _TOKEN.finditer(text)


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def check_template(text: str, *, file: str, field: str, line: int) -> list[Problem]:
    """Problems with a template's placeholders, located at the desired file's ``field``.

    The message names the template line, since the problem is in the template's text.
    """
    allowed = ", ".join(f"${{{name}}}" for name in PLACEHOLDERS) + " ($${ for a literal ${)"
    problems: list[Problem] = []
    uses_image = False
    for match in _tokens(text):
        name, closed = match.group(1), match.group(2)
        if name is None:
            continue  # `$$`
        where = f"template line {_line_at(text, match.start())}"
        if not closed:
            message = f"{where}: unclosed placeholder {match.group(0)!r}"
        elif name not in PLACEHOLDERS:
            message = f"{where}: unknown placeholder ${{{name}}}"
        else:
            uses_image = uses_image or name == "IMAGE"
            continue
        problems.append(Problem(file, line, field, message, allowed))
    if not uses_image:
        message = "the template never uses ${IMAGE}, so instances would not run the pinned image"
        problems.append(Problem(file, line, field, message, "a template containing ${IMAGE}"))
    return problems


def substitute(template: str, values: Mapping[str, str]) -> str:
    """Replace placeholders in one pass (a value is never re-scanned). No validation here."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return values.get(name, match.group(0)) if match.group(2) else match.group(0)

    return _TOKEN.sub(replace, template)


def _render_problems(image: ResolvedImage, service: str, spec: BootSpec) -> list[Problem]:
    problems = [
        Problem("<render>", 0, f"spec.image.{e.field}", e.reason, e.allowed)
        for e in image_errors(image.repository, image.tag, image.digest)
    ]
    reason = service_error(service)
    if reason:
        problems.append(Problem("<render>", 0, "metadata.name", reason, SERVICE_ALLOWED))
    for name, value in spec.env:
        for why, allowed in (
            (boot.env_name_error(name), boot.ENV_NAME_ALLOWED),
            (boot.env_value_error(value), boot.ENV_VALUE_ALLOWED),
        ):
            if why:
                problems.append(Problem("<render>", 0, f"spec.env.{name}", why, allowed))
    if spec.pull_credentials:
        wrong = boot.credentials_error(spec.pull_credentials)
        if wrong:
            field = f"spec.image.pullCredentials.{wrong[0]}"
            problems.append(Problem("<render>", 0, field, wrong[1], wrong[2]))
    return problems


NO_BOOT = BootSpec()


def values(
    *, repository: str, tag: str, digest: str, service: str, region: str, spec: BootSpec
) -> dict[str, str]:
    """What each placeholder becomes; the values are not checked here (``render`` does)."""
    return {
        "IMAGE": f"{repository}@{digest}",
        "IMAGE_TAG": tag,
        "IMAGE_DIGEST": digest,
        "SERVICE": service,
        "REGION": region,
        "REGISTRY": boot.registry_of(repository),
        "REGISTRY_LOGIN": boot.login_command(
            repository, region=region, credentials=spec.pull_credentials
        ),
        "DOCKER_ENV": boot.docker_env(spec),
    }


def render(
    template: str,
    *,
    image: ResolvedImage,
    service: str,
    region: str,
    spec: BootSpec = NO_BOOT,
) -> str:
    """The UserData for ``service`` running ``image``: plain text, not base64.

    Raises InvalidDesiredState when a value breaks its grammar (nothing unchecked reaches a shell),
    when the template has unknown placeholders or bytes that break a boot, or when the result
    exceeds AWS's 16 KB limit.
    """
    field = "spec.launchTemplate.userData"
    problems = _render_problems(image, service, spec)
    problems += check_text(template, file="<render>", field=field, line=0)
    problems += check_template(template, file="<render>", field=field, line=0)
    if problems:
        raise InvalidDesiredState(problems)
    found = values(
        repository=image.repository,
        tag=image.tag or "",
        digest=image.digest,
        service=service,
        region=region,
        spec=spec,
    )
    user_data = substitute(template, found)
    size_problem = check_size(user_data, file="<render>", field=field, line=0)
    if size_problem:
        raise InvalidDesiredState([size_problem])
    return user_data


def check_size(user_data: str, *, file: str, field: str, line: int) -> Problem | None:
    """A Problem when rendered UserData is over AWS's limit (raw bytes, before base64)."""
    size = len(user_data.encode("utf-8"))
    if size <= MAX_USER_DATA_BYTES:
        return None
    encoded = -(-size // 3) * 4
    message = (
        f"the rendered UserData is {size} bytes ({encoded} characters once base64-encoded); "
        f"AWS limits UserData to {MAX_USER_DATA_BYTES} bytes before base64 encoding"
    )
    return Problem(file, line, field, message, f"at most {MAX_USER_DATA_BYTES} bytes rendered")


def fingerprint(*, launch_template_name: str, user_data: str) -> str:
    """What a launch template version holds, independent of the commit that produced it."""
    digest = hashlib.sha256(f"{launch_template_name}\0{user_data}".encode())
    return digest.hexdigest()[:16]
