"""Commands that need an optional extra: import it, or say which extra to install.

``reconciler sandbox`` and ``reconciler demo`` run moto's server (``asg-reconciler[sandbox]``);
production installs leave it out, so their import is the place to tell the user what to install,
rather than a ``ModuleNotFoundError`` traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from reconciler import errors


@contextmanager
def needs_extra(extra: str, *, command: str) -> Iterator[None]:
    """Around the imports of ``command``: a third-party module missing is ``NotInstalled``."""
    try:
        yield
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing == "reconciler":  # our own module missing is a bug, not an extra
            raise
        raise errors.NotInstalled(command=command, extra=extra, missing=missing) from None
