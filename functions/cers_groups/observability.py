"""Powertools objects, created once and shared by every handler.

Log lines and metrics carry identifiers (submission id, district, object key, counts), never
the contents of a roster row. A handler's log lines about one submission carry its id as the
correlation id.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from cers_groups.resources import (
    DISTRICT_DIMENSION,
    METRICS_NAMESPACE,
    SERVICE_DIMENSION,
    SERVICE_NAME,
)

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)


def count_for_district(name: str, district: str, value: float = 1) -> None:
    """A count with the district as a dimension, written at once on its own.

    The shared ``metrics`` object keeps only the service dimension, so totals stay totals;
    this one metric gets ``district`` too, which is what the per-district alarms watch.
    """
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=METRICS_NAMESPACE,
        default_dimensions={SERVICE_DIMENSION: SERVICE_NAME},
    ) as metric:
        metric.add_dimension(name=DISTRICT_DIMENSION, value=district)
