"""Alert subscription check: run once a day by an EventBridge schedule; tells the operators
about alert addresses that have not confirmed their subscription or are no longer subscribed."""

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source

from cers_groups.alert_delivery import check_alert_subscriptions
from cers_groups.observability import logger, metrics, tracer
from cers_groups.settings import load_settings


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context) -> dict:
    undelivered = check_alert_subscriptions(load_settings())
    return {
        "pending": sorted(item.address for item in undelivered if item.pending),
        "missing": sorted(item.address for item in undelivered if not item.pending),
    }
