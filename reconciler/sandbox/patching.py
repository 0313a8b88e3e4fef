"""Replace attributes of moto's classes, once, remembering what was there."""

from __future__ import annotations

import inspect
from typing import Any

_ORIGINALS: dict[tuple[type, str], Any] = {}


def patch(cls: type, name: str, value: Any) -> None:
    """Set ``cls.name = value``. Installing twice replaces our patch and keeps moto's original."""
    key = (cls, name)
    if key not in _ORIGINALS:
        _ORIGINALS[key] = inspect.getattr_static(cls, name, None)
    setattr(cls, name, value)


def original(cls: type, name: str) -> Any:
    """moto's own ``cls.name`` (a function, or a property object), for patches that wrap it."""
    key = (cls, name)
    if key in _ORIGINALS:
        return _ORIGINALS[key]
    return inspect.getattr_static(cls, name)


def restore(cls: type, name: str) -> None:
    """Put moto's own ``cls.name`` back (used to show a fix is what makes a test pass)."""
    key = (cls, name)
    if key not in _ORIGINALS:
        return
    saved = _ORIGINALS.pop(key)
    if saved is None:
        delattr(cls, name)
    else:
        setattr(cls, name, saved)
