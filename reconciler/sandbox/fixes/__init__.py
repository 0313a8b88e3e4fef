"""Fixes for moto 5.2.5 on the reconciler's path; each module says what it repairs and why."""

from __future__ import annotations

from reconciler.sandbox.fixes import (
    dates,
    forwarding,
    group_api,
    group_instances,
    launch_templates,
    scaling_activities,
    scaling_policies,
    target_groups,
    target_health,
)


def install() -> None:
    """Patch moto's classes in this process. Safe to call more than once."""
    dates.install()
    launch_templates.install()
    group_api.install()
    group_instances.install()
    scaling_activities.install()
    scaling_policies.install()
    target_groups.install()
    target_health.install()
    forwarding.install()
