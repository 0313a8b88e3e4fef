"""GetMetricData and GetMetricStatistics that read the sandbox's ALB metrics, with percentiles.

moto 5.2.5 computes only Sum/Average/Minimum/Maximum/SampleCount, ignores
``ExtendedStatistics``, includes a period starting at EndTime, and scans every stored data
point for each period of each query. Queries on the ``AWS/ApplicationELB`` namespace are
answered here from the sandbox's ``MetricStore`` (``traffic`` publishes into it; PutMetricData
into that namespace lands there too); every other namespace is moto's, as before.

As on AWS ([M GetMetricData], [M GetMetricStatistics]): StartTime is inclusive and rounded down
to the minute, EndTime exclusive; periods are multiples of 60 s counted from StartTime; each
data point is labelled with its period's start; periods without data are absent; dimensions
must match the metric's exactly (aws-facts 6); Stat/ExtendedStatistics take ``pNN.NN``;
GetMetricData returns newest first unless ``ScanBy`` is ``TimestampAscending``. A MetricStat
query's default Label is the metric name (unconfirmed). Metric-math expressions over these
queries are not evaluated (moto's own expressions see only moto's data). ListMetrics lists the
sandbox's ALB metrics (each name and dimension combination with data) next to moto's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError
from moto.cloudwatch.models import CloudWatchBackend, MetricDatum
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from reconciler.sandbox import metric_store, runtime, traffic
from reconciler.sandbox.metric_store import MetricStore, key_of
from reconciler.sandbox.patching import original, patch
from reconciler.sandbox.serving import NAMESPACE

_COUNT_METRICS_UNIT = "Count"
_UNITS = {"TargetResponseTime": "Seconds"}


def install() -> None:
    patch(CloudWatchBackend, "get_metric_data", _get_metric_data)
    patch(CloudWatchBackend, "put_metric_data", _put_metric_data)
    patch(CloudWatchResponse, "get_metric_statistics", _get_metric_statistics)
    patch(CloudWatchBackend, "get_filtered_metrics", _get_filtered_metrics)


def _ours(query: dict[str, Any]) -> bool:
    stat = query.get("MetricStat") or {}
    return bool(stat.get("Metric", {}).get("Namespace") == NAMESPACE)


def _get_metric_data(
    self: Any, queries: list[dict[str, Any]], start_time: datetime, end_time: datetime,
    scan_by: str = "TimestampAscending",
) -> list[dict[str, Any]]:  # fmt: skip
    mine = [q for q in queries if _ours(q)]
    rest = [q for q in queries if not _ours(q)]
    if not mine:
        found: list[dict[str, Any]] = original(CloudWatchBackend, "get_metric_data")(
            self, rest, start_time, end_time, scan_by
        )
        return found
    if start_time >= end_time:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    store = traffic.store_of(self)
    results = {q["Id"]: _answer(store, q, start_time, end_time, scan_by) for q in mine}
    if rest:
        for result in original(CloudWatchBackend, "get_metric_data")(
            self, rest, start_time, end_time, scan_by
        ):
            results[result["id"]] = result
    shown = [q["Id"] for q in queries if q.get("ReturnData", True) in (True, "true", None)]
    return [results[i] for i in shown if i in results]


def _answer(
    store: MetricStore, query: dict[str, Any], start: datetime, end: datetime, scan_by: str
) -> dict[str, Any]:
    stat_query = query["MetricStat"]
    metric = stat_query["Metric"]
    stat = str(stat_query["Stat"])
    period = _period(stat_query.get("Period"))
    if not metric_store.is_statistic(stat):
        raise InvalidParameterValue(f"The value {stat} for parameter Stat is not supported.")
    name = metric["MetricName"]
    points = store.datapoints(key_of(name, metric.get("Dimensions", [])), start, end, period)
    pairs = [(p.timestamp, p.bucket.statistic(stat)) for p in points]
    if scan_by != "TimestampAscending":
        pairs.reverse()
    return {
        "id": query["Id"],
        "label": query.get("Label") or name,
        "timestamps": [t for t, _ in pairs],
        "values": [v for _, v in pairs],
        "status_code": "Complete",
    }


def _period(value: Any) -> int:
    period = int(value or 0)
    if period <= 0 or period % 60:
        raise InvalidParameterValue(
            f"The parameter Period must be a multiple of 60 for these metrics, not {value}."
        )
    return period


def _get_metric_statistics(self: Any) -> Any:
    namespace = self._get_param("Namespace")
    if namespace != NAMESPACE:
        return original(CloudWatchResponse, "get_metric_statistics")(self)
    name = self._get_param("MetricName")
    start, end = self._get_param("StartTime"), self._get_param("EndTime")
    statistics = list(self._get_param("Statistics", []) or [])
    extended = list(self._get_param("ExtendedStatistics", []) or [])
    if not statistics and not extended:
        return original(CloudWatchResponse, "get_metric_statistics")(self)  # moto's error
    if start >= end:
        raise InvalidParameterValue(
            "The parameter StartTime must be less than the parameter EndTime."
        )
    for stat in extended:
        if not metric_store.is_statistic(stat) or not stat.startswith("p"):
            raise InvalidParameterValue(f"The value {stat} for ExtendedStatistics is invalid.")
    metric = key_of(name, self._get_param("Dimensions", []) or [])
    store = traffic.store_of(self.cloudwatch_backend)
    points = store.datapoints(metric, start, end, _period(self._get_param("Period")))
    unit = _UNITS.get(name, _COUNT_METRICS_UNIT)
    datapoints = []
    for point in points:
        entry: dict[str, Any] = {"Timestamp": point.timestamp, "Unit": unit}
        for stat in statistics:
            entry[stat] = point.bucket.statistic(stat)
        if extended:
            entry["ExtendedStatistics"] = {s: point.bucket.statistic(s) for s in extended}
        datapoints.append(entry)
    return ActionResult({"Label": name, "Datapoints": datapoints})


def _put_metric_data(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
    original(CloudWatchBackend, "put_metric_data")(self, namespace, metric_data)
    if namespace != NAMESPACE:
        return
    store = traffic.store_of(self)
    for datum in metric_data:
        metric = key_of(datum["MetricName"], datum.get("Dimensions", []) or [])
        moment = datum.get("Timestamp") or _now()
        bucket = store.bucket(metric, moment)
        if datum.get("Values"):
            counts = datum.get("Counts") or [1] * len(datum["Values"])
            for value, count in zip(datum["Values"], counts, strict=False):
                bucket.add_values([float(value)] * int(float(count)))
        elif datum.get("StatisticValues"):
            stats = datum["StatisticValues"]
            bucket.count += float(stats["SampleCount"])
            bucket.total += float(stats["Sum"])
            bucket.low = min(bucket.low, float(stats["Minimum"]))
            bucket.high = max(bucket.high, float(stats["Maximum"]))
        else:
            bucket.add_values([float(datum.get("Value", 0))])


def _get_filtered_metrics(
    self: Any, metric_name: str, namespace: str, dimensions: list[dict[str, str]]
) -> list[Any]:
    found: list[Any] = original(CloudWatchBackend, "get_filtered_metrics")(
        self, metric_name, namespace, dimensions
    )
    if namespace not in (None, "", NAMESPACE):
        return found
    listed = {(m.name, tuple(sorted((d.name, d.value) for d in m.dimensions))) for m in found
              if m.namespace == NAMESPACE}  # fmt: skip
    wanted = {(d["Name"], d.get("Value")) for d in dimensions or []}
    for name, dims in traffic.store_of(self).metrics():
        present = dict(dims)
        if (metric_name and name != metric_name) or (name, dims) in listed:
            continue
        if any(n not in present or v not in (None, present[n]) for n, v in wanted):
            continue
        pairs = [{"Name": n, "Value": v} for n, v in dims]
        found.append(MetricDatum(NAMESPACE, name, 0.0, pairs, None))
    return found


def _now() -> datetime:
    return runtime.current().now()
