"""Finding a moto EC2 instance by id without copying every reservation.

moto's ``get_instance_by_id`` walks ``all_reservations()``, which shallow-copies each
reservation, so one lookup costs O(instances in the account) and the simulation's health checks
(one lookup per registered target per step) cost O(N²) at fleet scale. This index answers the
same question, in O(1): an instance found here is the very object moto holds, in the
reservation moto holds it in, so nothing the sandbox answers changes, only what it costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.sandbox.state import attached


@dataclass
class _Index:
    by_id: dict[str, tuple[str, Any]] = field(default_factory=dict)  # id → (reservation, it)
    reservations: int = -1  # how many reservations the index was built from

    def rebuild(self, ec2_backend: Any) -> None:
        self.by_id = {
            instance.id: (reservation_id, instance)
            for reservation_id, reservation in ec2_backend.reservations.items()
            for instance in reservation.instances
        }
        self.reservations = len(ec2_backend.reservations)


def find(ec2_backend: Any, instance_id: str) -> Any | None:
    """What ``ec2_backend.get_instance_by_id(instance_id)`` returns, without its O(N) walk."""
    index = attached(ec2_backend, "instance_index", _Index)
    found = _held(ec2_backend, index.by_id.get(instance_id))
    if found is None and len(ec2_backend.reservations) != index.reservations:
        index.rebuild(ec2_backend)  # new reservations since: launches are rare next to lookups
        found = _held(ec2_backend, index.by_id.get(instance_id))
    return found


def _held(ec2_backend: Any, entry: tuple[str, Any] | None) -> Any | None:
    """The indexed instance while moto still holds it where the index saw it."""
    if entry is None:
        return None
    reservation_id, instance = entry
    reservation = ec2_backend.reservations.get(reservation_id)
    if reservation is None or not any(i is instance for i in reservation.instances):
        return None
    return instance
