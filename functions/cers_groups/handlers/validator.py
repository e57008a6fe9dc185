"""Validator Lambda: S3 notifications from the validate queue, one submission per new object."""

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from cers_groups.events import dropped_objects
from cers_groups.observability import logger, metrics, tracer
from cers_groups.pipeline import (
    MAX_ATTEMPTS,
    give_up_validation,
    record_dropped,
    validate_dropped_object,
)
from cers_groups.settings import load_settings

processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method(capture_response=False)
def record_handler(record: SQSRecord) -> None:
    settings = load_settings()
    attempt = int(record.attributes.approximate_receive_count or 1)
    for dropped in dropped_objects(record.body):
        try:
            validate_dropped_object(dropped, settings)
        except Exception as error:
            logger.exception("Validation step failed", key=dropped.key, attempt=attempt)
            if attempt < MAX_ATTEMPTS:
                raise
            give_up_validation(dropped, settings, error)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    # Every file of the batch is on record before the first is validated, so none of them is
    # overtaken by a later file of its district validated meanwhile by another container.
    settings = load_settings()
    for record in event.get("Records", []):
        try:
            for dropped in dropped_objects(record["body"], log_skipped=False):
                record_dropped(dropped, settings)
        except Exception:  # noqa: BLE001 - its own record_handler run reports it
            logger.warning("Could not record a dropped object ahead of its batch")
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
