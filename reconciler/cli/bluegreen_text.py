"""A blue/green service's sides and weights as text for people: under ``reconciler status``,
and after a failed rollout (``apply``), where the traffic went and what to do next."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the status shapes come with the pipeline; rendering only needs them
    from reconciler.pipeline.bluegreen_status import BlueGreenStatus, SideStatus


def blue_green_lines(status: BlueGreenStatus) -> list[str]:
    step = f", step {status.step} of {len(status.steps)}" if status.step is not None else ""
    steps = " → ".join(f"{s}%" for s in status.steps)
    lines = [
        f"  blue/green:     {status.stage}{step}; live: {status.live or '-'};"
        f" steps {steps}; rollback to: {status.rollback_to or '-'}"
    ]
    lines += [f"    {_side(side)}" for side in status.sides]
    return lines


def _side(side: SideStatus) -> str:
    version = side.launch_template_version if side.launch_template_version is not None else "-"
    revision = (side.revision or "-")[:12]
    image = _image(side) if side.image else "-"
    return (
        f"{side.color:<5} {side.weight:>3}%  {side.group} ({side.healthy}/{side.desired} healthy)"
        f"  version {version}  revision {revision}  image {image}"
    )


def blue_green_aftermath(name: str, message: str, status: BlueGreenStatus) -> str:
    """How a failed blue/green rollout ended: the traffic now, and what to do next."""
    sides = "; ".join(
        f"{side.color} {side.weight}% ({_image(side)}, {side.desired} instance(s))"
        for side in status.sides
    )
    return "\n".join(
        (
            f"{name}: rollout failed: {message}" if message else f"{name}: rollout failed",
            f"{name}: traffic now: {sides}",
            f"{name}: next: commit a fix, or a revert (`reconciler rollback {name}` authors one);"
            f" the failed revision is not retried until then, or until `reconciler retry {name}`",
        )
    )


def _image(side: SideStatus) -> str:
    return side.image.rsplit("/", 1)[-1] if side.image else "no image"
