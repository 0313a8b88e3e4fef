"""Whether a boot script logs in to ECR before it pulls from it, as an instance would find out.

Amazon ECR private registries always need authentication: "Your client must authenticate to
Amazon ECR registries as an AWS user before it can push and pull images" (Amazon ECR User
Guide, "Private registry authentication in Amazon ECR",
docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html), even from an instance in
the registry's own account with a role allowed to pull. Without it docker answers
``no basic auth credentials`` and the app never starts. The guide's two ways to authenticate
are checked for here: ``aws ecr get-login-password ... | docker login --username AWS
--password-stdin <registry>`` (the token is the password and the user name is always ``AWS``),
and the Amazon ECR credential helper (``docker-credential-ecr-login``, configured as
``ecr-login`` in docker's config). A password written into the script is refused too: the
token it would be expires after 12 hours, and GetAuthorizationToken's docs give no other one.

The script is read, not run (``images.scripts.pipelines``): the first ``docker pull``, ``run`` or
``create`` of an ECR image must come after a login to that image's registry. Not modelled:
whether the instance has a role at all, and whether the token's ``--region`` matches the
registry (AWS documents the command with the registry's region but not what another does).
"""

from __future__ import annotations

from reconciler.images import scripts
from reconciler.images.reference import DOCKER_HUB_INDEX, InvalidReference, ecr_registry, parse

_DOCKER = frozenset({"docker", "podman", "/usr/bin/docker", "/usr/bin/podman"})
_PULLS = frozenset({"pull", "run", "create"})
_LOGIN_VALUE_OPTIONS = frozenset({"-u", "--username", "-p", "--password"})
_CREDENTIAL_HELPER = "ecr-login"
_ANY_ECR = "*ecr*"


def refusal(user_data: str) -> str | None:
    """Why the script's first pull of an ECR image fails, or None when it logs in first (or
    pulls nothing from ECR)."""
    logged_in: set[str] = set()
    for pipeline in scripts.pipelines(user_data):
        if any(_CREDENTIAL_HELPER in word for command in pipeline for word in command):
            logged_in.add(_ANY_ECR)
        for position, command in enumerate(pipeline):
            verb, rest = _docker_verb(command)
            if verb == "login":
                registry = _login(rest, fed_by=pipeline[position - 1] if position else None)
                logged_in.update([registry] if registry else [])
            elif verb in _PULLS:
                registry = _ecr_image_registry(rest)
                if registry and not {registry, _ANY_ECR} & logged_in:
                    return (
                        f"docker {verb} of an image in {registry} without logging in to it first:"
                        " ECR answers 'no basic auth credentials' (run aws ecr get-login-password"
                        f" | docker login --username AWS --password-stdin {registry} before it)"
                    )
    return None


def _docker_verb(command: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """(``pull``, the words after it) for ``[sudo] docker [image] pull ...``; (None, []) else."""
    words = list(_without_sudo(command))
    if not words or words[0] not in _DOCKER:
        return None, []
    rest = [w for w in words[1:] if not w.startswith("-")][:2]
    if rest[:1] in (["image"], ["container"]):
        rest = rest[1:]
    if not rest:
        return None, []
    verb = rest[0]
    return verb, words[words.index(verb) :]


def _without_sudo(command: tuple[str, ...]) -> tuple[str, ...]:
    return command[1:] if command[:1] == ("sudo",) else command


def _login(words: list[str], *, fed_by: tuple[str, ...] | None) -> str | None:
    """The ECR registry a ``docker login`` authenticates to, or None when it would not."""
    username, password_stdin, positional = None, False, []
    skip_for: str | None = None
    for word in words[1:]:
        if skip_for:
            username = word if skip_for in ("-u", "--username") else username
            skip_for = None
        elif word in _LOGIN_VALUE_OPTIONS:
            skip_for = word
        elif word.startswith("--username="):
            username = word.partition("=")[2]
        elif word == "--password-stdin":
            password_stdin = True
        elif not word.startswith("-") and word not in (">", "<", "2", ">&"):
            positional.append(word)
    registry = positional[0].removeprefix("https://").rstrip("/") if positional else ""
    if not registry or ecr_registry(registry) is None:
        return registry or DOCKER_HUB_INDEX  # another registry: not the sandbox's to judge
    feeder = list(_without_sudo(fed_by)[:3]) if fed_by else []
    from_ecr = feeder == ["aws", "ecr", "get-login-password"]
    return registry if username == "AWS" and password_stdin and from_ecr else None


def _ecr_image_registry(words: list[str]) -> str | None:
    image = scripts.image_argument(words)
    if image is None:
        return None
    try:
        registry = parse(image).registry
    except InvalidReference:
        return None
    return registry if ecr_registry(registry) else None
