"""A valid document, with the schema's defaults filled in, as the ``ServiceSpec`` it declares.

Only documents without errors get here, so every required field is present with its type. The
group and health-check settings come from ``model.fields``, the one table of managed settings.
"""

from __future__ import annotations

from typing import Any

from reconciler.desired import service_schema
from reconciler.desired.boot import boot_spec
from reconciler.desired.document import Doc
from reconciler.desired.template import Template
from reconciler.model import (
    AnalysisSpec,
    AutoScalingGroupSpec,
    BlueGreenSpec,
    ErrorRateSpec,
    HealthCheckSpec,
    ImageSpec,
    LatencySpec,
    LaunchTemplateSpec,
    ListenerRef,
    RolloutSpec,
    ScalingSpec,
    ServiceSpec,
    SideRef,
    SourceRef,
    Strategy,
    TargetGroupSpec,
    fields,
)


def build(doc: Doc, template: Template, *, revision: str | None) -> ServiceSpec:
    """The service ``doc`` declares, its UserData being ``template``."""
    data = service_schema.with_defaults(doc.document.data)
    spec = data["spec"]
    written = doc.document.data["spec"]
    image, lt, asg, tg = (
        spec["image"],
        spec["launchTemplate"],
        spec["autoScalingGroup"],
        spec["targetGroup"],
    )
    scaling = spec.get("scaling")
    return ServiceSpec(
        name=data["metadata"]["name"],
        region=spec["region"],
        image=ImageSpec(image["repository"], image.get("tag"), image.get("digest")),
        launch_template=LaunchTemplateSpec(
            lt["name"], lt["userData"], template.path, template.text
        ),
        auto_scaling_group=AutoScalingGroupSpec(
            name=asg["name"],
            **fields.from_yaml(fields.GROUP, asg),
            unmanaged=_omitted(fields.GROUP, written["autoScalingGroup"]),
        ),
        target_group=TargetGroupSpec(
            tg["name"],
            HealthCheckSpec(**fields.from_yaml(fields.HEALTH_CHECK, tg["healthCheck"])),
            unmanaged=_omitted(fields.HEALTH_CHECK, written["targetGroup"].get("healthCheck", {})),
        ),
        rollout=_rollout(spec["rollout"]),
        scaling=ScalingSpec(float(scaling["targetCpuUtilization"])) if scaling else None,
        source=SourceRef(doc.file, doc.line, revision),
        paused=spec["paused"],
        image_poll_interval=spec["imagePollInterval"],
        strategy=Strategy(spec["strategy"]),
        blue_green=_blue_green(spec["blueGreen"], doc) if "blueGreen" in spec else None,
        boot=boot_spec(doc),
    )


def _omitted(table: tuple[fields.Field, ...], section: dict[str, Any]) -> frozenset[str]:
    """The optional settings the file leaves out: "not managed" (issue 17 #7). Their schema
    default is AWS's default for a new resource, never a value to enforce on an existing one.
    desiredCapacity has no default: omitted, it is already None."""
    return frozenset(f.yaml for f in table if f.optional and f.yaml not in section)


# The fields whose existence only AWS can confirm, located for the errors that report them.
_LOCATED = (
    ("spec", "blueGreen", "listener"),
    ("spec", "blueGreen", "green", "autoScalingGroup"),
    ("spec", "blueGreen", "green", "targetGroup"),
    ("spec", "autoScalingGroup", "name"),
    ("spec", "targetGroup", "name"),
)


def _blue_green(blue_green: dict[str, Any], doc: Doc) -> BlueGreenSpec:
    listener, green = blue_green["listener"], blue_green["green"]
    lines = tuple((".".join(path), doc.document.line_of(path)) for path in _LOCATED)
    return BlueGreenSpec(
        listener=ListenerRef(
            listener["loadBalancer"], listener["port"], listener.get("rulePriority")
        ),
        green=SideRef(green["autoScalingGroup"], green["targetGroup"]),
        traffic_steps=tuple(blue_green["trafficSteps"]),
        step_pause=blue_green["stepPause"],
        scale_down_delay=blue_green["scaleDownDelay"],
        warm_standby=blue_green["warmStandby"],
        lines=lines,
    )


def _rollout(rollout: dict[str, Any]) -> RolloutSpec:
    # Fields without a schema default stay None (or empty) when absent: plan leaves them out.
    return RolloutSpec(
        min_healthy_percentage=rollout["minHealthyPercentage"],
        max_healthy_percentage=rollout.get("maxHealthyPercentage"),
        instance_warmup=rollout.get("instanceWarmup"),
        checkpoint_percentages=tuple(rollout.get("checkpointPercentages", ())),
        checkpoint_delay=rollout.get("checkpointDelay"),
        auto_rollback=rollout["autoRollback"],
        skip_matching=rollout["skipMatching"],
        scale_in_protected_instances=rollout["scaleInProtectedInstances"],
        standby_instances=rollout["standbyInstances"],
        bake_time=rollout.get("bakeTime"),
        alarms=tuple(rollout.get("alarms", ())),
        analysis=_analysis(rollout["analysis"]),
    )


def _analysis(analysis: dict[str, Any]) -> AnalysisSpec:
    errors, latency = analysis["errorRate"], analysis["latencyP99"]
    return AnalysisSpec(
        enabled=analysis["enabled"],
        interval=analysis["interval"],
        failure_limit=analysis["failureLimit"],
        min_requests=analysis["minRequests"],
        baseline_window=analysis["baselineWindow"],
        unhealthy_instances=analysis["unhealthyInstances"],
        error_rate=ErrorRateSpec(
            enabled=errors["enabled"], max=errors["max"], max_increase=errors["maxIncrease"]
        ),
        latency_p99=LatencySpec(
            enabled=latency["enabled"], max=latency["max"], max_ratio=latency["maxRatio"]
        ),
    )
