"""The cers-groups stack: roster bucket, queues, table, alert topic, CERS secret, two functions."""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_lambda_event_sources import SqsEventSource
from constructs import Construct

from cers_groups import resources as res
from cers_groups.cers import DEFAULT_ENDPOINT
from infra.bundling import ARCHITECTURE, RUNTIME, SOURCE_EXCLUDES, bundling_options

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
STACK_ID = "CersGroups"

VALIDATOR_ID = "ValidatorFunction"
VALIDATOR_HANDLER = "cers_groups.handlers.validator.lambda_handler"
VALIDATOR_TIMEOUT = Duration.minutes(5)
VALIDATOR_BATCH_SIZE = 5

UPLOADER_ID = "UploaderFunction"
UPLOADER_HANDLER = "cers_groups.handlers.uploader.lambda_handler"
# CERS validates the file inside the POST: a large roster keeps the request open for minutes.
UPLOADER_TIMEOUT = Duration.minutes(10)
UPLOADER_CONCURRENCY = 5

# AWS guidance for SQS event sources: visibility timeout at least six times the function's.
VISIBILITY_FACTOR = 6
MAX_RECEIVE_COUNT = 3
DLQ_RETENTION = Duration.days(14)
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": "cers-groups",
    "POWERTOOLS_METRICS_NAMESPACE": "CersGroups",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
SECRET_TEMPLATE = {
    "username": f"{res.SECRET_PLACEHOLDER}with-TOMS-username",
    "client_id": f"{res.SECRET_PLACEHOLDER}with-Cognito-app-client-id",
    "region": "us-west-2",
}
MAX_GROUP_ID_LENGTH = 128  # SQS MessageGroupId limit; the district is the message group


class CersGroupsStack(Stack):
    """Everything one district's deployment needs; settings come in as keyword-only props."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        alert_emails: Sequence[str] = (),
        cers_endpoint: str = DEFAULT_ENDPOINT,
        district_id: str = res.DEFAULT_DISTRICT,
        functions_dir: Path = FUNCTIONS_DIR,
        **kwargs: Any,
    ) -> None:
        _check_props(alert_emails, cers_endpoint, district_id)
        super().__init__(scope, id_, **kwargs)
        Tags.of(self).add("Project", "cers-groups")
        Tags.of(self).add("District", district_id)

        self.bucket = self._build_bucket()
        self.validate_queue = self._build_queue(
            res.VALIDATE_QUEUE, res.VALIDATE_DLQ, consumer_timeout=VALIDATOR_TIMEOUT, fifo=False
        )
        self.upload_queue = self._build_queue(
            res.UPLOAD_QUEUE, res.UPLOAD_DLQ, consumer_timeout=UPLOADER_TIMEOUT, fifo=True
        )
        self.table = self._build_table()
        self.topic = self._build_topic(alert_emails)
        self.secret = self._build_secret(district_id)

        self.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.validate_queue),
            s3.NotificationKeyFilter(prefix=res.INCOMING_PREFIX),
        )
        code = lambda_.Code.from_asset(
            str(functions_dir),
            exclude=list(SOURCE_EXCLUDES),
            bundling=bundling_options(functions_dir),
        )
        environment = self._environment(district_id, cers_endpoint)
        self.validator = self._build_validator(code, environment)
        self.uploader = self._build_uploader(code, environment)
        self._build_outputs()

    def _build_bucket(self) -> s3.Bucket:
        return s3.Bucket(
            self,
            res.ROSTER_BUCKET.construct_id,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _build_queue(
        self,
        queue: res.Resource,
        dead_letters: res.Resource,
        *,
        consumer_timeout: Duration,
        fifo: bool,
    ) -> sqs.Queue:
        # The sender supplies the deduplication id, so content-based deduplication stays off.
        fifo_props = {"fifo": True, "content_based_deduplication": False} if fifo else {}
        common = {"encryption": sqs.QueueEncryption.SQS_MANAGED, "enforce_ssl": True, **fifo_props}
        dlq = sqs.Queue(self, dead_letters.construct_id, retention_period=DLQ_RETENTION, **common)
        return sqs.Queue(
            self,
            queue.construct_id,
            visibility_timeout=Duration.seconds(consumer_timeout.to_seconds() * VISIBILITY_FACTOR),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=MAX_RECEIVE_COUNT),
            **common,
        )

    def _build_table(self) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            res.SUBMISSIONS_TABLE.construct_id,
            partition_key=dynamodb.Attribute(
                name=res.SUBMISSION_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _build_topic(self, alert_emails: Sequence[str]) -> sns.Topic:
        topic = sns.Topic(
            self, res.ALERT_TOPIC.construct_id, display_name="CERS groups alerts", enforce_ssl=True
        )
        for address in alert_emails:
            topic.add_subscription(subscriptions.EmailSubscription(address))
        return topic

    def _build_secret(self, district_id: str) -> secretsmanager.Secret:
        # A placeholder: CloudFormation only ever sees a random password, never the real one.
        return secretsmanager.Secret(
            self,
            res.CERS_SECRET.construct_id,
            description=(
                f"CERS (TOMS) sign-in for district {district_id}. Placeholder: overwrite it with "
                "`aws secretsmanager put-secret-value` (JSON keys username, password, client_id, "
                "region, optional client_secret)."
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(SECRET_TEMPLATE),
                generate_string_key="password",
            ),
        )

    def _build_function(
        self, id_: str, *, code: lambda_.Code, environment: dict[str, str], **props: Any
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self, f"{id_}Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN
        )
        return lambda_.Function(
            self,
            id_,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=code,
            environment={**POWERTOOLS_ENV, **environment},
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            **props,
        )

    def _environment(self, district_id: str, cers_endpoint: str) -> dict[str, str]:
        # Both functions get the same settings: cers_groups.settings requires every one of them.
        return {
            res.ROSTER_BUCKET.env_var: self.bucket.bucket_name,
            res.SUBMISSIONS_TABLE.env_var: self.table.table_name,
            res.ALERT_TOPIC.env_var: self.topic.topic_arn,
            res.UPLOAD_QUEUE.env_var: self.upload_queue.queue_url,
            res.CERS_SECRET.env_var: self.secret.secret_arn,
            res.CERS_ENDPOINT_ENV: cers_endpoint,
            res.DISTRICT_ENV: district_id,
        }

    def _build_validator(self, code: lambda_.Code, environment: dict[str, str]) -> lambda_.Function:
        function = self._build_function(
            VALIDATOR_ID,
            code=code,
            handler=VALIDATOR_HANDLER,
            timeout=VALIDATOR_TIMEOUT,
            memory_size=1024,
            environment=environment,
        )
        function.add_event_source(
            SqsEventSource(
                self.validate_queue,
                batch_size=VALIDATOR_BATCH_SIZE,
                report_batch_item_failures=True,
            )
        )
        self.bucket.grant_read(function, f"{res.INCOMING_PREFIX}*")
        self.bucket.grant_put(function, f"{res.REPORTS_PREFIX}*")
        self.table.grant_read_write_data(function)
        self.upload_queue.grant_send_messages(function)
        self.topic.grant_publish(function)
        return function

    def _build_uploader(self, code: lambda_.Code, environment: dict[str, str]) -> lambda_.Function:
        function = self._build_function(
            UPLOADER_ID,
            code=code,
            handler=UPLOADER_HANDLER,
            timeout=UPLOADER_TIMEOUT,
            memory_size=512,
            reserved_concurrent_executions=UPLOADER_CONCURRENCY,
            environment=environment,
        )
        # Capping the pollers at the reserved concurrency keeps throttled batches from
        # burning receive counts and landing in the dead-letter queue.
        function.add_event_source(
            SqsEventSource(
                self.upload_queue,
                batch_size=1,
                report_batch_item_failures=True,
                max_concurrency=UPLOADER_CONCURRENCY,
            )
        )
        self.bucket.grant_read(function, f"{res.INCOMING_PREFIX}*")
        self.table.grant_read_write_data(function)
        self.secret.grant_read(function)
        self.topic.grant_publish(function)
        return function

    def _build_outputs(self) -> None:
        # The description names the environment variable that carries the same value, so a
        # CLI can rebuild the functions' environment from `describe-stacks`.
        outputs = {
            "RosterBucketName": (res.ROSTER_BUCKET.env_var, self.bucket.bucket_name),
            "SubmissionsTableName": (res.SUBMISSIONS_TABLE.env_var, self.table.table_name),
            "AlertTopicArn": (res.ALERT_TOPIC.env_var, self.topic.topic_arn),
            "CersSecretArn": (res.CERS_SECRET.env_var, self.secret.secret_arn),
            "CersSecretName": ("Secret name for put-secret-value", self.secret.secret_name),
            "ValidateQueueUrl": (res.VALIDATE_QUEUE.env_var, self.validate_queue.queue_url),
            "ValidateDeadLetterQueueUrl": (
                res.VALIDATE_DLQ.env_var,
                self.validate_queue.dead_letter_queue.queue.queue_url,
            ),
            "UploadQueueUrl": (res.UPLOAD_QUEUE.env_var, self.upload_queue.queue_url),
            "UploadDeadLetterQueueUrl": (
                res.UPLOAD_DLQ.env_var,
                self.upload_queue.dead_letter_queue.queue.queue_url,
            ),
        }
        for id_, (description, value) in outputs.items():
            CfnOutput(self, id_, value=value, description=description)


def _check_props(alert_emails: Sequence[str], cers_endpoint: str, district_id: str) -> None:
    if not cers_endpoint.startswith("https://"):
        raise ValueError(f"cers_endpoint must be an https:// URL, not {cers_endpoint!r}")
    if not district_id or len(district_id) > MAX_GROUP_ID_LENGTH:
        raise ValueError(f"district_id must be 1 to {MAX_GROUP_ID_LENGTH} characters")
    if isinstance(alert_emails, str):
        raise TypeError("alert_emails must be a sequence of addresses, not one string")
    bad = [address for address in alert_emails if "@" not in address]
    if bad:
        raise ValueError(f"not e-mail addresses: {bad}")


def _email_list(value: object) -> list[str]:
    """`alert_emails` from cdk.json is a list; from `-c alert_emails=...` it is a string."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.split(",")
    if not isinstance(value, list | tuple):
        raise TypeError(f"alert_emails must be a list of addresses, not {value!r}")
    return [str(address).strip() for address in value if str(address).strip()]


def stack_from_context(scope: Construct, id_: str = STACK_ID, **kwargs: Any) -> CersGroupsStack:
    """The stack with its props read from the CDK context (cdk.json or `-c key=value`)."""
    node = scope.node
    return CersGroupsStack(
        scope,
        id_,
        alert_emails=_email_list(node.try_get_context("alert_emails")),
        cers_endpoint=node.try_get_context("cers_endpoint") or DEFAULT_ENDPOINT,
        district_id=node.try_get_context("district_id") or res.DEFAULT_DISTRICT,
        **kwargs,
    )
