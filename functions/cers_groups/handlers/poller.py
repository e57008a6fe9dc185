"""Poller Lambda, run on a schedule: follows uploads through at CERS (see cers_groups.follow_up)."""

from aws_lambda_powertools.metrics import MetricUnit

from cers_groups.follow_up import follow_up
from cers_groups.observability import logger, metrics, tracer
from cers_groups.settings import load_settings


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    logger.info("Scheduled follow-up", scheduled_at=event.get("time"))
    run = follow_up(load_settings())
    metrics.add_metric(name="SubmissionsFollowed", unit=MetricUnit.Count, value=run.looked_up)
    return run.as_dict()
