"""Daily summary Lambda: run once a day by an EventBridge schedule, one e-mail per district that
asks for it, covering the 24 hours before the scheduled time."""

from datetime import datetime

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source

from cers_groups.observability import logger, metrics, tracer
from cers_groups.settings import load_settings
from cers_groups.summary import send_daily_summaries


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context) -> dict:
    end = datetime.fromisoformat(event.time.replace("Z", "+00:00"))
    return {"districts": send_daily_summaries(load_settings(), end)}
