"""The reconciler's exceptions. Every error the product raises is one of these::

    ReconcilerError                  base; str(e) is one clear line for a human
    ├── UsageError                   bad command line (exit 2)
    ├── InvalidDesiredState          desired files failed validation; carries located Problems
    │   ├── UnverifiedCommit         the commit is not signed by an allowed key
    │   └── UnresolvableImage        an image the commit names is not in its registry
    ├── SandboxError                 the local sandbox cannot serve (a busy port) or is not running
    ├── DemoFailed                   a step of `reconciler demo` did not end as the story says
    ├── GitError                     git could not be run, timed out, or refused
    ├── OperatorError                `rollback`/`pause` cannot author the commit
    ├── TemporaryError               worth retrying later; carries `delay` seconds
    │   ├── AwsThrottled             throttling, 5xx, timeouts, connection failures
    │   ├── RegistryUnavailable      registry unreachable or refusing credentials
    │   ├── FetchError               the git remote could not be read
    │   └── Interrupted              the daemon is stopping; the AWS call was not started
    └── PermanentError               retrying the same input will not help
        ├── AwsApiError              AWS said no: operation, resource, code
        └── ImageNotFound            the tag or digest is not in the registry

The command line prints any of them as one line and exits 1 (``UsageError``: 2); anything else
that escapes is a bug and is reported as an internal error.

Temporary errors back off and retry; permanent errors mark the service Stalled until its
desired state changes. Neither ever carries a credential in its message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.model import Problem


class ReconcilerError(Exception):
    """Base of every error the reconciler raises on purpose."""


class UsageError(ReconcilerError):
    pass


class InvalidDesiredState(ReconcilerError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        errors = [p for p in self.problems if not p.warning]
        first = str(errors[0]) if errors else "invalid desired state"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)


class SandboxError(ReconcilerError):
    pass


class GitError(ReconcilerError):
    """git could not be run, timed out, or refused what it was asked (with ``check``)."""


class OperatorError(ReconcilerError):
    """The commit cannot be authored: dirty tree, unknown service, nothing to change, ..."""


class UnverifiedCommit(InvalidDesiredState):
    """The commit is not signed by an allowed key: refused exactly like an invalid commit."""

    def __init__(self, *, revision: str, reason: str, allowed_signers: Path) -> None:
        self.revision = revision
        problem = Problem(
            file=f"commit {revision[:12]}",
            line=0,
            field="signature",
            message=f"not signed by an allowed key: {reason}",
            allowed=f"commits signed by a key in {allowed_signers}",
        )
        super().__init__([problem])


class UnresolvableImage(InvalidDesiredState):
    """An image the commit names does not resolve: refused exactly like an invalid commit, so
    the last good revision stays reconciled (``images.admit``)."""


class DemoFailed(ReconcilerError):
    pass


class TemporaryError(ReconcilerError):
    def __init__(self, message: str, *, delay: float = 5.0) -> None:
        super().__init__(message)
        self.delay = delay


class AwsThrottled(TemporaryError):
    pass


class RegistryUnavailable(TemporaryError):
    pass


class FetchError(TemporaryError):
    """The remote could not be read (network, credentials, missing branch): retried with backoff."""


class Interrupted(TemporaryError):
    """The daemon is stopping: this AWS call was not started."""


class PermanentError(ReconcilerError):
    pass


class AwsApiError(PermanentError):
    def __init__(self, *, operation: str, code: str, message: str, resource: str = "") -> None:
        self.operation = operation
        self.code = code
        self.resource = resource
        on = f" on {resource}" if resource else ""
        super().__init__(f"{operation}{on} failed: {code}: {message}")


class ImageNotFound(PermanentError):
    pass
