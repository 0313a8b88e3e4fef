"""A blue/green service's sides and weights as text for people, under ``reconciler status``."""

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
    image = side.image.rsplit("/", 1)[-1] if side.image else "-"
    return (
        f"{side.color:<5} {side.weight:>3}%  {side.group} ({side.healthy}/{side.desired} healthy)"
        f"  version {version}  revision {revision}  image {image}"
    )
