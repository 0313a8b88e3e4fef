"""Secrets given to ``reconciler run``: from a file an option names, else from the environment.

One rule for all of them (the webhook secret, the page's action token, the GitHub token, the
notification secret): a file wins over the environment, surrounding whitespace is dropped, and a
file that cannot be read or holds nothing is a usage error naming the option, since a secret
that was meant to be set but is not would leave a door open or a feature silently off. The
value itself never appears in a message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from reconciler import errors
from reconciler.daemon import readable


def read_secret(
    *, option: str, file: str | None, env: Mapping[str, str], names: Sequence[str]
) -> str | None:
    """The secret in ``file`` (the value of ``option``), else the first of the environment
    variables ``names`` that is set and not blank; None when there is neither."""
    if file is None:
        return next((env[n].strip() for n in names if env.get(n, "").strip()), None)
    try:
        text = Path(file).read_text(encoding="utf-8").strip()
    except PermissionError:  # owner, mode and the fix: a container's user is not the host's
        raise errors.UsageError(f"{option}: {readable.problem(Path(file))}") from None
    except OSError as exc:
        raise errors.UsageError(f"{option}: {exc.strerror}: {file}") from None
    except UnicodeDecodeError:
        raise errors.UsageError(f"{option}: not UTF-8 text: {file}") from None
    if not text:
        raise errors.UsageError(f"{option}: the file is empty: {file}")
    return text
