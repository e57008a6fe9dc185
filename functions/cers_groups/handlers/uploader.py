"""Uploader Lambda: validated submissions from the FIFO upload queue, sent to CERS in order."""

import json

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from cers_groups.observability import logger, metrics, tracer
from cers_groups.outcomes import MAX_ATTEMPTS
from cers_groups.pipeline import give_up
from cers_groups.settings import load_settings
from cers_groups.uploads import RetryLater, upload_submission

# A failed message stops the rest of its batch, so one district's files keep their order.
processor = SqsFifoPartialProcessor()


@tracer.capture_method(capture_response=False)
def record_handler(record: SQSRecord) -> None:
    message = json.loads(record.body)
    submission_id = message["submission_id"]
    attempt = int(record.attributes.approximate_receive_count or 1)
    settings = load_settings()
    try:
        # "force": an operator asked to send a DUPLICATE again.
        upload_submission(submission_id, settings, attempt, force=bool(message.get("force")))
    except RetryLater as later:
        logger.info("Upload will be retried", submission_id=submission_id, reason=str(later))
        raise
    except Exception as error:
        logger.exception("Upload step failed", submission_id=submission_id, attempt=attempt)
        if attempt < MAX_ATTEMPTS:
            raise
        give_up(submission_id, settings, error)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
