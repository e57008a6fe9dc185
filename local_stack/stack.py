"""The whole product on one machine: moto's server, the CERS stand-in, and the real handlers."""

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from aws_lambda_powertools.utilities import parameters

from cers_groups.deployment import Deployment
from cers_groups.handlers import poller, uploader, validator
from cers_groups.resources import ALERT_DISTRICT_ATTRIBUTE
from cers_groups.settings import FOLLOW_ENV, RETRY_DELAY_ENV
from cers_groups.tenants import Tenants, load_tenants
from local_stack.cers_standin import CersStandIn
from local_stack.cognito import add_login, create_district_login
from local_stack.cognito_proxy import CognitoProxy
from local_stack.lambda_runner import (
    LambdaContext,
    QueueConsumer,
    run_until_idle,
    scheduled_event,
)
from local_stack.moto_server import moto_server
from local_stack.observers import stack_observers
from local_stack.resources import LocalResources, create_resources

TENANTS_TEMPLATE = Path(__file__).parent / "tenants.json"
SAMPLE_SCHOOLS = frozenset({"99123450111111", "99123450122222", "99123450133333"})
COGNITO_ENDPOINT_ENV = "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"
# Retries wait this long locally (seconds) instead of the deployed default, so faults are quick,
# and the uploader watches an accepted import this long (the stand-in processes in milliseconds).
LOCAL_RETRY_DELAY = "0.05"
LOCAL_FOLLOW = "0.25"


@dataclass
class LocalStack:
    resources: LocalResources
    standin: CersStandIn
    district_login: dict
    tenants: Tenants
    cognito: CognitoProxy
    endpoint_url: str = ""  # moto's server
    tenants_file: str = ""
    poll_released: int = 0

    def drop(self, path: Path, name: str | None = None, district: str | None = None) -> str:
        """Put a roster in a district's folder as its SIS export would; the object key.

        ``district`` defaults to the first district; ``name`` to the file's own name.
        """
        folder = self.tenants.district(district).prefix if district else self.folder
        key = f"{folder}{name or path.name}"
        boto3.client("s3").put_object(Bucket=self.resources.bucket, Key=key, Body=path.read_bytes())
        return key

    @property
    def folder(self) -> str:
        """The first district's drop folder."""
        return self.tenants.districts[0].prefix

    def put(self, key: str, body: bytes) -> str:
        """Put any object at any key, as a misconfigured export might."""
        boto3.client("s3").put_object(Bucket=self.resources.bucket, Key=key, Body=body)
        return key

    def run(self, timeout: float = 90.0, follow: bool = True) -> None:
        """Deliver queued messages to the handlers until every queue is empty; then, unless
        ``follow`` is False, run the poller, and again while it changes or releases anything.
        """
        self.drain(timeout)
        while follow and self.poll()["changed"] + self.poll_released > 0:
            self.drain(timeout)

    def poll(self) -> dict:
        """One run of the poller Lambda, with the event EventBridge's schedule sends."""
        result = poller.lambda_handler(
            scheduled_event(), LambdaContext(function_name="cers-groups-poller")
        )
        self.poll_released = result["released"]
        return result

    def drain_validation(self, timeout: float = 90.0) -> None:
        """Run only the validator, leaving validated files on the upload queue."""
        run_until_idle(
            [
                QueueConsumer(
                    self.resources.validate_queue_url,
                    validator.lambda_handler,
                    "cers-groups-validator",
                    batch_size=5,
                )
            ],
            timeout=timeout,
        )

    def drain(self, timeout: float = 90.0) -> None:
        """Deliver queued messages to the handlers until every queue is empty."""
        run_until_idle(self.consumers(), timeout=timeout)

    def consumers(self) -> list[QueueConsumer]:
        """The queues and the handlers Lambda's event source mappings feed from them."""
        return [
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
        ]

    def deployment(self) -> Deployment:
        """The local stack as the command line sees a deployment."""
        return Deployment(
            description=f"local stack at {self.endpoint_url}",
            values=self.resources.environment(self.tenants_file),
            districts=tuple(district.id for district in self.tenants.districts),
            endpoint_url=self.endpoint_url,
            region=boto3.session.Session().region_name,
        )

    def submissions(self) -> list[dict]:
        """Every submission item, oldest first."""
        return sorted(self._scan(), key=lambda item: item["created_at"])

    def statuses(self) -> list[str]:
        """Every submission's status and nothing else: a cheap check of how far things are."""
        return [
            item["status"]
            for item in self._scan(
                ProjectionExpression="#s", ExpressionAttributeNames={"#s": "status"}
            )
        ]

    def _scan(self, **request) -> list[dict]:
        table = boto3.resource("dynamodb").Table(self.resources.table)
        answer = table.scan(**request)
        items = answer["Items"]
        while "LastEvaluatedKey" in answer:
            answer = table.scan(ExclusiveStartKey=answer["LastEvaluatedKey"], **request)
            items += answer["Items"]
        return items

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
                attributes = envelope.get("MessageAttributes", {})
                audience = attributes.get(ALERT_DISTRICT_ATTRIBUTE, {}).get("Value")
                emails.append(
                    {
                        "subject": envelope.get("Subject"),
                        "body": envelope["Message"],
                        "audience": audience,
                    }
                )
                sqs.delete_message(
                    QueueUrl=self.resources.mailbox_url, ReceiptHandle=message["ReceiptHandle"]
                )


@contextmanager
def local_stack(
    schools: frozenset[str] = SAMPLE_SCHOOLS,
    tenants_template: Path = TENANTS_TEMPLATE,
    *,
    moto_port: int = 0,
    cers_port: int = 0,
    processing_delay: float | None = None,
    login_per_district: bool = False,
) -> Iterator[LocalStack]:
    """Start everything on 127.0.0.1 and point the handlers' environment at it.

    Ports 0 pick free ones. ``processing_delay``: seconds after which the CERS stand-in
    processes an accepted import by itself (None: only when a test calls ``process``).
    ``login_per_district``: each district signs in as a user of its own, ``district_user(id)``
    (else all share the first district's login), so Cognito and CERS can tell them apart.
    """
    with (
        moto_server(moto_port) as moto_url,
        tempfile.TemporaryDirectory(prefix="cers-groups-") as workdir,
    ):
        parameters.clear_caches()  # a cached secret from an earlier stack would be stale
        saved = dict(os.environ)
        cognito = CognitoProxy(moto_url)
        os.environ[COGNITO_ENDPOINT_ENV] = cognito.start()
        login = create_district_login()
        standin = CersStandIn(
            jwks_url=login["jwks_url"],
            issuer=login["issuer"],
            schools=schools,
            processing_delay=processing_delay,
            port=cers_port,
        )
        standin.start()
        tenants_file = Path(workdir) / "tenants.json"
        tenants = _local_tenants(tenants_template, standin.endpoint, tenants_file)
        logins = {
            district.id: add_login(login, district_user(district.id))
            if login_per_district
            else login
            for district in tenants.districts
        }
        credentials = {
            district_id: {key: each[key] for key in ("username", "password", "client_id", "region")}
            for district_id, each in logins.items()
        }
        local = create_resources(tenants, credentials)
        os.environ.update(local.environment(str(tenants_file)))
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
        os.environ.setdefault(RETRY_DELAY_ENV, LOCAL_RETRY_DELAY)
        os.environ.setdefault(FOLLOW_ENV, LOCAL_FOLLOW)
        stack = LocalStack(local, standin, login, tenants, cognito, moto_url, str(tenants_file))
        observers = stack_observers()
        try:
            for observer in observers:
                observer.started(stack)
            yield stack
        finally:
            for observer in observers:
                observer.stopping(stack)
            standin.stop()
            cognito.stop()
            os.environ.clear()
            os.environ.update(saved)


def district_user(district_id: str) -> str:
    """The CERS username of a district that signs in as a user of its own."""
    return f"it@{district_id}.example.org"


def _local_tenants(template: Path, cers_endpoint: str, destination: Path) -> Tenants:
    """The template's districts, each pointed at the local CERS stand-in."""
    document = json.loads(template.read_text())
    for district in document["districts"]:
        district.update(cers_endpoint=cers_endpoint, cers_endpoint_is_local=True)
    destination.write_text(json.dumps(document, indent=2))
    return load_tenants(destination)
