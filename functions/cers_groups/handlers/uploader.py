"""Uploader Lambda: validated submissions from the FIFO upload queue, sent to CERS in order."""

import json

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from cers_groups.observability import logger, metrics, tracer
from cers_groups.pipeline import upload_submission
from cers_groups.settings import load_settings

# A failed message stops the rest of its batch, so one district's files keep their order.
processor = SqsFifoPartialProcessor()


@tracer.capture_method(capture_response=False)
def record_handler(record: SQSRecord) -> None:
    submission_id = json.loads(record.body)["submission_id"]
    attempt = int(record.attributes.approximate_receive_count or 1)
    upload_submission(submission_id, load_settings(), attempt)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
