"""Powertools objects, created once and shared by every handler.

Log lines and metrics carry identifiers (submission id, district, object key, counts), never
the contents of a roster row.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="cers-groups")
tracer = Tracer(service="cers-groups")
metrics = Metrics(namespace="CersGroups", service="cers-groups")
