"""The whole product on one machine: moto's server, the CERS stand-in, and the real handlers."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from aws_lambda_powertools.utilities import parameters

from cers_groups.handlers import uploader, validator
from cers_groups.resources import INCOMING_PREFIX
from local_stack.cers_standin import CersStandIn
from local_stack.cognito import create_district_login
from local_stack.lambda_runner import QueueConsumer, run_until_idle
from local_stack.moto_server import moto_server
from local_stack.resources import LocalResources, create_resources

DISTRICT = "sample-usd"
ALERT_EMAIL = "district-it@sampleusd.example.org"
SAMPLE_SCHOOLS = frozenset({"99123450111111", "99123450122222", "99123450133333"})


@dataclass
class LocalStack:
    resources: LocalResources
    standin: CersStandIn
    district_login: dict

    def drop(self, path: Path, name: str | None = None) -> str:
        """Put a roster in the bucket as an SIS export would; the object key."""
        key = f"{INCOMING_PREFIX}{name or path.name}"
        boto3.client("s3").put_object(Bucket=self.resources.bucket, Key=key, Body=path.read_bytes())
        return key

    def run(self, timeout: float = 90.0) -> None:
        """Deliver queued messages to the handlers until every queue is empty."""
        run_until_idle(
            [
                QueueConsumer(
                    self.resources.validate_queue_url,
                    validator.lambda_handler,
                    "cers-groups-validator",
                    batch_size=5,
                ),
                QueueConsumer(
                    self.resources.upload_queue_url,
                    uploader.lambda_handler,
                    "cers-groups-uploader",
                    batch_size=1,
                ),
            ],
            timeout=timeout,
        )

    def submissions(self) -> list[dict]:
        table = boto3.resource("dynamodb").Table(self.resources.table)
        items = table.scan()["Items"]
        return sorted(items, key=lambda item: item["created_at"])

    def alert_emails(self) -> list[dict]:
        """Alerts published to the topic, read from the demo mailbox queue."""
        sqs = boto3.client("sqs")
        emails = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.resources.mailbox_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return emails
            for message in batch:
                envelope = json.loads(message["Body"])
                emails.append({"subject": envelope.get("Subject"), "body": envelope["Message"]})
                sqs.delete_message(
                    QueueUrl=self.resources.mailbox_url, ReceiptHandle=message["ReceiptHandle"]
                )


@contextmanager
def local_stack(schools: frozenset[str] = SAMPLE_SCHOOLS) -> Iterator[LocalStack]:
    """Start everything on 127.0.0.1 and point the handlers' environment at it."""
    with moto_server():
        parameters.clear_caches()  # a cached secret from an earlier stack would be stale
        login = create_district_login()
        standin = CersStandIn(jwks_url=login["jwks_url"], issuer=login["issuer"], schools=schools)
        standin.start()
        credential = {key: login[key] for key in ("username", "password", "client_id", "region")}
        local = create_resources(credential, alert_emails=[ALERT_EMAIL])
        saved = dict(os.environ)
        os.environ.update(local.environment(standin.endpoint, DISTRICT))
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
        try:
            yield LocalStack(resources=local, standin=standin, district_login=login)
        finally:
            standin.stop()
            os.environ.clear()
            os.environ.update(saved)
