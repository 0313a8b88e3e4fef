"""Our own writes, heard through botocore's ``before-parameter-build`` event on the clients
``apply`` shares with the Observer, so the tick after a write reads what it changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.aws import Aws
from reconciler.model import TAG_PINNED

# Auto Scaling writes after which a group's refreshes must be read again.
GROUP_WRITES = frozenset(
    {
        "StartInstanceRefresh",
        "CancelInstanceRefresh",
        "RollbackInstanceRefresh",
        "UpdateAutoScalingGroup",
        "CreateOrUpdateTags",
        "DeleteTags",
        "SetDesiredCapacity",
        "TerminateInstanceInAutoScalingGroup",
        "DetachInstances",
        "AttachInstances",
    }
)
POLICY_WRITES = frozenset({"PutScalingPolicy", "DeletePolicy"})
TARGET_GROUP_TAG_WRITES = frozenset({"AddTags", "RemoveTags"})


class WriteSink(Protocol):
    def saw_write(self, region: str, operation: str, params: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class _WriteListener:
    """botocore ``before-parameter-build`` handler: tells the sink about writes."""

    sink: WriteSink
    region: str

    def __call__(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        self.sink.saw_write(self.region, str(model.name), params)


def listen(aws: Aws, region: str, sink: WriteSink) -> None:
    """Tell ``sink`` of every write made through ``aws``'s clients for ``region``."""
    for service in ("autoscaling", "elbv2"):
        aws.client(service, region).meta.events.register(
            "before-parameter-build",
            _WriteListener(sink, region),
            unique_id=f"asg-reconciler-observer-{id(sink)}-{service}-{region}",
        )


def groups_named(params: Mapping[str, Any]) -> set[str]:
    """The groups a group write names."""
    named = {str(params["AutoScalingGroupName"])} if "AutoScalingGroupName" in params else set()
    # CreateOrUpdateTags / DeleteTags name their groups per tag. The pinned record alone is
    # bookkeeping: it starts nothing, and the group's tags are read every tick anyway.
    tags = [t for t in params.get("Tags", []) if t.get("Key") != TAG_PINNED]
    named |= {str(t["ResourceId"]) for t in tags if "ResourceId" in t}
    return named
