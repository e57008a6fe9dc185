"""The cers-groups stack: roster bucket, queues, table, alert topic, CERS secrets, two functions.

One deployment serves every district of the tenants file (see ``cers_groups.tenants``): each
district has its own CERS secret and alert addresses, and the functions read the same file,
bundled into their asset.
"""

import json
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
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
from cers_groups.errors import ConfigurationError
from cers_groups.tenants import District, Tenants, load_tenants
from infra.bundling import ARCHITECTURE, RUNTIME, function_code

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
STACK_ID = "CersGroups"
# The context key naming the tenants file, relative to the CDK app's working directory (the
# repository root, where cdk.json is).
TENANTS_FILE_CONTEXT = "tenants_file"
DEFAULT_TENANTS_FILE = "tenants.json"
# Where Lambda unpacks the function's asset.
LAMBDA_TASK_ROOT = "/var/task"

VALIDATOR_ID = "ValidatorFunction"
VALIDATOR_HANDLER = "cers_groups.handlers.validator.lambda_handler"
VALIDATOR_TIMEOUT = Duration.minutes(5)
VALIDATOR_BATCH_SIZE = 5

UPLOADER_ID = "UploaderFunction"
UPLOADER_HANDLER = "cers_groups.handlers.uploader.lambda_handler"
# CERS validates the file inside the POST: a large roster keeps the request open for minutes
# (about 20 for 1,000,000 rows). The uploader gets Lambda's maximum and stops waiting for the
# answer after cers_groups.settings.DEFAULT_READ_TIMEOUT (13 minutes), then looks the import up.
UPLOADER_TIMEOUT = Duration.minutes(15)
UPLOADER_CONCURRENCY = 5

POLLER_ID = "PollerFunction"
POLLER_HANDLER = "cers_groups.handlers.poller.lambda_handler"
POLLER_TIMEOUT = Duration.minutes(4)
POLLER_SCHEDULE = Duration.minutes(5)

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
SECRET_OUTPUT_PREFIX = "CersSecretName"


class CersGroupsStack(Stack):
    """Everything the districts' deployment needs; settings come in as keyword-only props."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        tenants: Tenants,
        functions_dir: Path = FUNCTIONS_DIR,
        **kwargs: Any,
    ) -> None:
        _check_tenants(tenants)
        super().__init__(scope, id_, **kwargs)
        Tags.of(self).add("Project", "cers-groups")
        self.tenants = tenants

        self.bucket = self._build_bucket()
        self.validate_queue = self._build_queue(
            res.VALIDATE_QUEUE, res.VALIDATE_DLQ, consumer_timeout=VALIDATOR_TIMEOUT, fifo=False
        )
        self.upload_queue = self._build_queue(
            res.UPLOAD_QUEUE, res.UPLOAD_DLQ, consumer_timeout=UPLOADER_TIMEOUT, fifo=True
        )
        self.table = self._build_table()
        self.tokens_table = self._build_tokens_table()
        self.topic = self._build_topic(tenants)
        self.secrets = {district.id: self._build_secret(district) for district in tenants.districts}

        self.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.SqsDestination(self.validate_queue),
            s3.NotificationKeyFilter(prefix=res.INCOMING_PREFIX),
        )
        code = function_code(functions_dir, {res.BUNDLED_TENANTS_FILE: tenants_json(tenants)})
        environment = self._environment()
        self.validator = self._build_validator(code, environment)
        self.uploader = self._build_uploader(code, environment)
        self.poller = self._build_poller(code, environment)
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
        table = dynamodb.Table(
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
        for index in res.SUBMISSION_INDEXES:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(
                    name=index.partition_key, type=dynamodb.AttributeType.STRING
                ),
                sort_key=dynamodb.Attribute(
                    name=index.sort_key, type=dynamodb.AttributeType.STRING
                ),
            )
        return table

    def _build_tokens_table(self) -> dynamodb.Table:
        # Short-lived credentials (see cers_groups.tokens): no backups, gone with the stack.
        return dynamodb.Table(
            self,
            res.TOKENS_TABLE.construct_id,
            partition_key=dynamodb.Attribute(
                name=res.TOKEN_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=res.TOKEN_TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _build_topic(self, tenants: Tenants) -> sns.Topic:
        topic = sns.Topic(
            self, res.ALERT_TOPIC.construct_id, display_name="CERS groups alerts", enforce_ssl=True
        )
        for address, district_ids in alert_subscribers(tenants).items():
            filter_policy = None
            if district_ids is not None:
                allowlist = sns.SubscriptionFilter.string_filter(allowlist=list(district_ids))
                filter_policy = {res.ALERT_DISTRICT_ATTRIBUTE: allowlist}
            topic.add_subscription(
                subscriptions.EmailSubscription(address, filter_policy=filter_policy)
            )
        return topic

    def _build_secret(self, district: District) -> secretsmanager.Secret:
        # A placeholder: CloudFormation only ever sees a random password, never the real one.
        secret = secretsmanager.Secret(
            self,
            f"{res.CERS_SECRET_CONSTRUCT_PREFIX}{pascal_case(district.id)}",
            secret_name=district.secret_name,
            description=(
                f"CERS (TOMS) sign-in for district {district.id}. Placeholder: overwrite it with "
                "`aws secretsmanager put-secret-value` (JSON keys username, password, client_id, "
                "region, optional client_secret and token_use)."
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(SECRET_TEMPLATE),
                generate_string_key="password",
            ),
        )
        Tags.of(secret).add("District", district.id)
        return secret

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

    def _environment(self) -> dict[str, str]:
        # Both functions get the same settings: cers_groups.settings requires every one of them.
        # Everything about the districts (secrets, endpoints, rules) is in the tenants file.
        return {
            res.ROSTER_BUCKET.env_var: self.bucket.bucket_name,
            res.SUBMISSIONS_TABLE.env_var: self.table.table_name,
            res.ALERT_TOPIC.env_var: self.topic.topic_arn,
            res.UPLOAD_QUEUE.env_var: self.upload_queue.queue_url,
            res.TENANTS_FILE_ENV: f"{LAMBDA_TASK_ROOT}/{res.BUNDLED_TENANTS_FILE}",
            res.TOKENS_TABLE.env_var: self.tokens_table.table_name,
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
        self.tokens_table.grant_read_write_data(function)
        for secret in self.secrets.values():
            secret.grant_read(function)
        self.topic.grant_publish(function)
        return function

    def _build_poller(self, code: lambda_.Code, environment: dict[str, str]) -> lambda_.Function:
        """Follows uploads at CERS on a schedule (cers_groups.follow_up); one run at a time."""
        function = self._build_function(
            POLLER_ID,
            code=code,
            handler=POLLER_HANDLER,
            timeout=POLLER_TIMEOUT,
            memory_size=256,
            reserved_concurrent_executions=1,
            environment=environment,
        )
        events.Rule(
            self,
            "PollerSchedule",
            schedule=events.Schedule.rate(POLLER_SCHEDULE),
            targets=[targets.LambdaFunction(function, retry_attempts=0)],
        )
        self.table.grant_read_write_data(function)
        self.tokens_table.grant_read_write_data(function)
        for secret in self.secrets.values():
            secret.grant_read(function)
        self.topic.grant_publish(function)
        self.upload_queue.grant_send_messages(function)  # releases waiting uploads
        return function

    def _build_outputs(self) -> None:
        # The description names the environment variable that carries the same value, so a
        # CLI can rebuild the functions' environment from `describe-stacks`.
        outputs = {
            "RosterBucketName": (res.ROSTER_BUCKET.env_var, self.bucket.bucket_name),
            "SubmissionsTableName": (res.SUBMISSIONS_TABLE.env_var, self.table.table_name),
            "AlertTopicArn": (res.ALERT_TOPIC.env_var, self.topic.topic_arn),
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
        # The name as written (the secret's own secret_name attribute is cut out of its ARN).
        for district in self.tenants.districts:
            outputs[f"{SECRET_OUTPUT_PREFIX}{pascal_case(district.id)}"] = (
                f"CERS secret of district {district.id}",
                district.secret_name,
            )
        for id_, (description, value) in outputs.items():
            CfnOutput(self, id_, value=value, description=description)


def pascal_case(district_id: str) -> str:
    """`north-usd` becomes `NorthUsd`: the district's part of its construct and output ids."""
    return "".join(part[:1].upper() + part[1:] for part in district_id.split("-"))


def alert_subscribers(tenants: Tenants) -> dict[str, tuple[str, ...] | None]:
    """Each alert address and the districts whose alerts it receives; None for every alert.

    SNS keeps one subscription per address on a topic, so an address listed by two districts
    gets one subscription that allows both, and an operator's address gets no filter at all.
    """
    operators = dict.fromkeys(tenants.operator_emails)
    districts: dict[str, list[str]] = {}
    for district in tenants.districts:
        for address in district.alert_emails:
            if address not in operators:
                ids = districts.setdefault(address, [])
                if district.id not in ids:
                    ids.append(district.id)
    return {**operators, **{address: tuple(ids) for address, ids in districts.items()}}


def tenants_json(tenants: Tenants) -> str:
    """The tenants as the functions read them: every field, and the same text for the same
    tenants (sets are sorted), so the asset hash only changes when the tenants do."""
    return json.dumps(tenants.model_dump(), indent=2, default=_json_value) + "\n"


def _json_value(value: object) -> object:
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot write {type(value).__name__} to the bundled tenants file")


def _check_tenants(tenants: Tenants) -> None:
    """What the stack needs beyond a valid tenants file; ConfigurationError, as load_tenants."""
    if not isinstance(tenants, Tenants):
        raise TypeError(f"tenants must be a cers_groups.tenants.Tenants, not {tenants!r}")
    addresses = [*tenants.operator_emails]
    for district in tenants.districts:
        addresses.extend(district.alert_emails)
    bad = sorted({address for address in addresses if not _looks_like_address(address)})
    if bad:
        raise ConfigurationError(f"not e-mail addresses in the tenants file: {bad}")
    by_name: dict[str, str] = {}
    for district in tenants.districts:
        if district.id == res.OPERATORS_AUDIENCE:
            raise ConfigurationError(
                f"district id {district.id!r} is reserved: alerts for the operators carry it"
            )
        if district.cers_endpoint_is_local:
            raise ConfigurationError(
                f"district {district.id!r} has a local cers_endpoint "
                f"({district.cers_endpoint}); only the local stack can use one"
            )
        other = by_name.setdefault(pascal_case(district.id), district.id)
        if other != district.id:
            raise ConfigurationError(
                f"district ids {other!r} and {district.id!r} give the same construct id "
                f"{res.CERS_SECRET_CONSTRUCT_PREFIX}{pascal_case(district.id)}; rename one"
            )


def _looks_like_address(address: str) -> bool:
    local, _, domain = address.partition("@")
    return bool(local and domain) and not any(c.isspace() for c in address)


def stack_from_context(scope: Construct, id_: str = STACK_ID, **kwargs: Any) -> CersGroupsStack:
    """The stack for the tenants file named by the `tenants_file` context value (cdk.json or
    `-c tenants_file=...`). A broken file raises ConfigurationError, which names the problem."""
    path = scope.node.try_get_context(TENANTS_FILE_CONTEXT) or DEFAULT_TENANTS_FILE
    return CersGroupsStack(scope, id_, tenants=load_tenants(Path(str(path))), **kwargs)
