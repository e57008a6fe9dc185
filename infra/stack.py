"""The cers-groups stack: roster bucket, queues, table, alert topic, CERS secrets, two functions.

One deployment serves every district of the tenants file (see ``cers_groups.tenants``): each
district has its own CERS secret, alert addresses, alarms and, when configured, a drop role for
its SIS export and an SFTP user; the functions read the same file, bundled into their asset.

Secure by default: one customer-managed KMS key (see ``infra.security``) encrypts the data,
every policy names its own resources, and the AWS Solutions checks of cdk-nag (``infra.nag``)
pass with a reason for every exception. ``infra.observability`` holds the alarms and dashboard,
``infra.sizing`` the measured function sizes.
"""

import json
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Duration, RemovalPolicy, Size, Stack, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_lambda_event_sources import SqsEventSource
from constructs import Construct

from cers_groups import resources as res
from cers_groups.errors import ConfigurationError
from cers_groups.tenants import DeploymentSettings, District, Tenants, load_tenants
from infra.bundling import ARCHITECTURE, RUNTIME, function_code
from infra.nag import suppress
from infra.observability import Monitoring
from infra.security import (
    EncryptedQueueDestination,
    build_access_log_bucket,
    build_exporter_role,
    build_key,
)
from infra.sftp import SftpAccess
from infra.sizing import (
    UPLOADER_CONCURRENCY,
    UPLOADER_MEMORY_MB,
    UPLOADER_TIMEOUT,
    VALIDATOR_BATCH_SIZE,
    VALIDATOR_MEMORY_MB,
    VALIDATOR_TIMEOUT,
    VISIBILITY_FACTOR,
)

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
STACK_ID = res.STACK_NAME
# The context key naming the tenants file, relative to the CDK app's working directory (the
# repository root, where cdk.json is).
TENANTS_FILE_CONTEXT = "tenants_file"
DEFAULT_TENANTS_FILE = "tenants.json"
# Where Lambda unpacks the function's asset.
LAMBDA_TASK_ROOT = "/var/task"

VALIDATOR_ID = "ValidatorFunction"
VALIDATOR_HANDLER = "cers_groups.handlers.validator.lambda_handler"
# Room in /tmp for the largest roster read (rules.max_file_bytes, 1 GB by default): its
# normalized copy, spill file and parts.
VALIDATOR_TMP = Size.gibibytes(4)

UPLOADER_ID = "UploaderFunction"
UPLOADER_HANDLER = "cers_groups.handlers.uploader.lambda_handler"
# CDK creates this function (one per stack) to set the bucket's notification configuration.
NOTIFICATIONS_HANDLER_ID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"

# Scheduled functions. 14:00 UTC is 6 a.m. in California in winter, 7 a.m. in summer.
DAILY_SUMMARY_ID = "DailySummaryFunction"
DAILY_SUMMARY_HANDLER = "cers_groups.handlers.daily_summary.lambda_handler"
DAILY_SUMMARY_SCHEDULE = events.Schedule.cron(minute="0", hour="14")
SUBSCRIPTION_CHECK_ID = "AlertSubscriptionCheckFunction"
SUBSCRIPTION_CHECK_HANDLER = "cers_groups.handlers.alert_subscriptions.lambda_handler"
SUBSCRIPTION_CHECK_SCHEDULE = events.Schedule.cron(minute="30", hour="14")
SCHEDULED_TIMEOUT = Duration.minutes(2)

POLLER_ID = "PollerFunction"
POLLER_HANDLER = "cers_groups.handlers.poller.lambda_handler"
POLLER_TIMEOUT = Duration.minutes(4)
POLLER_SCHEDULE = Duration.minutes(5)
MAX_RECEIVE_COUNT = 3
DLQ_RETENTION = Duration.days(14)
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

POWERTOOLS_ENV = {
    "POWERTOOLS_SERVICE_NAME": res.SERVICE_NAME,
    "POWERTOOLS_METRICS_NAMESPACE": res.METRICS_NAMESPACE,
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
SECRET_TEMPLATE = {
    "username": f"{res.SECRET_PLACEHOLDER}with-TOMS-username",
    "client_id": f"{res.SECRET_PLACEHOLDER}with-Cognito-app-client-id",
    "region": "us-west-2",
}
SECRET_OUTPUT_PREFIX = "CersSecretName"  # noqa: S105 - an output name
EXPORTER_ROLE_OUTPUT_PREFIX = "ExporterRoleArn"
SFTP_SERVER_OUTPUT = "SftpServerId"
# Where S3 writes the roster bucket's access logs in the log bucket.
ACCESS_LOG_PREFIX = "roster-bucket/"
# Uploads that never completed (a dropped connection) are cleaned up after this long.
INCOMPLETE_UPLOAD_DAYS = 1


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

        self.key = build_key(self)
        self.access_logs = build_access_log_bucket(self, tenants.deployment)
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
            EncryptedQueueDestination(self.validate_queue, self.key),
            s3.NotificationKeyFilter(prefix=res.INCOMING_PREFIX),
        )
        code = function_code(functions_dir, {res.BUNDLED_TENANTS_FILE: tenants_json(tenants)})
        environment = self._environment()
        self.validator = self._build_validator(code, environment)
        self.uploader = self._build_uploader(code, environment)
        self.daily_summary = self._build_scheduled(
            DAILY_SUMMARY_ID, DAILY_SUMMARY_HANDLER, DAILY_SUMMARY_SCHEDULE, code, environment
        )
        self.table.grant_read_data(self.daily_summary)
        self.subscription_check = self._build_scheduled(
            SUBSCRIPTION_CHECK_ID,
            SUBSCRIPTION_CHECK_HANDLER,
            SUBSCRIPTION_CHECK_SCHEDULE,
            code,
            environment,
        )
        self.subscription_check.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sns:ListSubscriptionsByTopic"], resources=[self.topic.topic_arn]
            )
        )
        self.poller = self._build_poller(code, environment)
        self.exporter_roles = self._build_exporter_roles()
        self.sftp = self._build_sftp()
        self.monitoring = self._build_monitoring()
        self._build_outputs()
        self._suppress_cdk_internals()

    def _build_bucket(self) -> s3.Bucket:
        return s3.Bucket(
            self,
            res.ROSTER_BUCKET.construct_id,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            # One data key per bucket rather than per object: far fewer KMS requests.
            bucket_key_enabled=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            lifecycle_rules=lifecycle_rules(self.tenants.deployment),
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
        common = {
            "encryption": sqs.QueueEncryption.KMS,
            "encryption_master_key": self.key,
            "enforce_ssl": True,
            **fifo_props,
        }
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
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            time_to_live_attribute=res.SUBMISSION_EXPIRY,
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
        # Short-lived credentials (see cers_groups.tokens): gone with the stack, encrypted with
        # the stack's key like everything else.
        return dynamodb.Table(
            self,
            res.TOKENS_TABLE.construct_id,
            partition_key=dynamodb.Attribute(
                name=res.TOKEN_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=res.TOKEN_TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _build_topic(self, tenants: Tenants) -> sns.Topic:
        topic = sns.Topic(
            self,
            res.ALERT_TOPIC.construct_id,
            display_name="CERS groups alerts",
            enforce_ssl=True,
            master_key=self.key,
        )
        # The stack's alarms notify this topic; its policy replaces the default one, so it
        # lets CloudWatch publish for alarms of this account.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": self.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": self.account},
                },
            )
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
            encryption_key=self.key,
        )
        Tags.of(secret).add("District", district.id)
        suppress(
            secret,
            "SMG4",
            "The CERS credential is a TOMS account password that only the district's LEA "
            "coordinator can change in TOMS; there is no API a rotation function could call.",
        )
        return secret

    def _build_function(
        self, id_: str, *, code: lambda_.Code, environment: dict[str, str], **props: Any
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self, f"{id_}Logs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN
        )
        # A role of its own with no managed policy: its log group, and what it is granted.
        role = iam.Role(
            self,
            f"{id_}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"cers-groups {id_}",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            id_,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=code,
            environment={**POWERTOOLS_ENV, **environment},
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=role,
            **props,
        )
        suppress_function_findings(function, role)
        return function

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
            memory_size=VALIDATOR_MEMORY_MB,
            # The normalized copy, its spill file and any parts are worked on in /tmp.
            ephemeral_storage_size=VALIDATOR_TMP,
            environment=environment,
        )
        function.add_event_source(
            SqsEventSource(
                self.validate_queue,
                batch_size=VALIDATOR_BATCH_SIZE,
                report_batch_item_failures=True,
            )
        )
        self._grant_read_rosters(function, res.INCOMING_PREFIX)
        self._grant_reports(function)
        self._grant_write_prepared(function)
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
            memory_size=UPLOADER_MEMORY_MB,
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
        self._grant_read_rosters(
            function, res.INCOMING_PREFIX, res.NORMALIZED_PREFIX, res.PARTS_PREFIX
        )
        self._grant_reports(function)
        self.table.grant_read_write_data(function)
        self.tokens_table.grant_read_write_data(function)
        for secret in self.secrets.values():
            secret.grant_read(function)
        self.topic.grant_publish(function)
        return function

    def _grant_read_rosters(self, function: lambda_.Function, *prefixes: str) -> None:
        """Read exactly the roster versions recorded (GetObject with a VersionId)."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadRosters",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[self.bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
            )
        )
        self.key.grant_decrypt(function)

    def _grant_write_prepared(self, function: lambda_.Function) -> None:
        """The normalized copy that is sent, and the parts of a roster too big to send whole."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="WritePreparedRosters",
                actions=["s3:PutObject"],
                resources=[
                    self.bucket.arn_for_objects(f"{prefix}*")
                    for prefix in (res.NORMALIZED_PREFIX, res.PARTS_PREFIX)
                ],
            )
        )
        self.key.grant(function, "kms:GenerateDataKey")

    def _grant_reports(self, function: lambda_.Function) -> None:
        """Reports are written again when a submission's status changes: read and put them."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadWriteReports",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"{res.REPORTS_PREFIX}*")],
            )
        )
        self.key.grant(function, "kms:Decrypt", "kms:GenerateDataKey")

    def _build_exporter_roles(self) -> dict[str, iam.Role]:
        """A drop role for each district that names the principal of its SIS export."""
        return {
            district.id: build_exporter_role(
                self, district, pascal_case(district.id), self.bucket, self.key
            )
            for district in self.tenants.districts
            if district.exporter_principal
        }

    def _build_sftp(self) -> SftpAccess | None:
        if not self.tenants.deployment.sftp_enabled:
            return None
        return SftpAccess(
            self,
            "Sftp",
            tenants=self.tenants,
            bucket=self.bucket,
            key=self.key,
            log_retention=LOG_RETENTION,
            construct_suffix={d.id: pascal_case(d.id) for d in self.tenants.districts},
        )

    def _build_monitoring(self) -> Monitoring:
        monitoring = Monitoring(self, "Monitoring", topic=self.topic)
        monitoring.watch_function("Validator", self.validator)
        monitoring.watch_function("Uploader", self.uploader)
        monitoring.watch_function("Poller", self.poller)
        monitoring.watch_dead_letters(
            "Validate", self.validate_queue, self.validate_queue.dead_letter_queue.queue
        )
        monitoring.watch_dead_letters(
            "Upload", self.upload_queue, self.upload_queue.dead_letter_queue.queue
        )
        for district in self.tenants.districts:
            monitoring.watch_district(district, pascal_case(district.id))
        monitoring.finish()
        return monitoring

    def _suppress_cdk_internals(self) -> None:
        """Findings on what CDK adds by itself to deliver S3 notifications."""
        handler = self.node.try_find_child(NOTIFICATIONS_HANDLER_ID)
        if handler is None:
            return
        suppress(
            handler,
            "IAM4",
            "CDK's own custom resource that sets the bucket's notification configuration at "
            "deploy time; it runs with the basic Lambda execution policy and holds no data.",
            applies_to=[
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole"
            ],
        )

    def _build_scheduled(
        self,
        id_: str,
        handler: str,
        schedule: events.Schedule,
        code: lambda_.Code,
        environment: dict[str, str],
    ) -> lambda_.Function:
        """A function an EventBridge schedule runs, publishing to the alert topic. A failed run
        is not retried, so no e-mail goes out twice; it shows in the function's Errors metric."""
        function = self._build_function(
            id_,
            code=code,
            handler=handler,
            timeout=SCHEDULED_TIMEOUT,
            memory_size=256,
            retry_attempts=0,
            environment=environment,
        )
        events.Rule(
            self, f"{id_}Schedule", schedule=schedule, targets=[targets.LambdaFunction(function)]
        )
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
                res.DISTRICT_SECRET_OUTPUT.format(district=district.id),
                district.secret_name,
            )
        for district_id, role in self.exporter_roles.items():
            outputs[f"{EXPORTER_ROLE_OUTPUT_PREFIX}{pascal_case(district_id)}"] = (
                f"Role the SIS export of district {district_id} assumes to drop files",
                role.role_arn,
            )
        if self.sftp is not None:
            outputs[SFTP_SERVER_OUTPUT] = (
                "SFTP server for the districts' SIS exports",
                self.sftp.server_id,
            )
        # What `cdk destroy` leaves behind (RETAIN), named so it can be found and deleted.
        outputs["DataKeyArn"] = ("KMS key of the rosters, table, topic, queues", self.key.key_arn)
        outputs["AccessLogBucketName"] = (
            "Access logs of the roster bucket",
            self.access_logs.bucket_name,
        )
        outputs["DashboardName"] = (
            "CloudWatch dashboard",
            self.monitoring.dashboard.dashboard_name,
        )
        for id_, (description, value) in outputs.items():
            CfnOutput(self, id_, value=value, description=description)


def lifecycle_rules(deployment: DeploymentSettings) -> list[s3.LifecycleRule]:
    """Rosters and reports expire; their older versions are deleted after as many days again.

    S3 turns an expired object into a noncurrent version (the bucket is versioned), so the
    last copy of a roster is gone at most twice its retention after it was dropped.
    """
    rosters = Duration.days(deployment.roster_retention_days)
    reports = Duration.days(deployment.report_retention_days)
    by_prefix = [
        ("Rosters", res.INCOMING_PREFIX, rosters),
        ("NormalizedRosters", res.NORMALIZED_PREFIX, rosters),
        ("Reports", res.REPORTS_PREFIX, reports),
    ]
    rules = [
        s3.LifecycleRule(
            id=f"Expire{name}",
            prefix=prefix,
            expiration=days,
            noncurrent_version_expiration=days,
        )
        for name, prefix, days in by_prefix
    ]
    rules.append(
        s3.LifecycleRule(
            id="CleanUp",
            abort_incomplete_multipart_upload_after=Duration.days(INCOMPLETE_UPLOAD_DAYS),
            expired_object_delete_marker=True,
        )
    )
    return rules


def suppress_function_findings(function: lambda_.Function, role: iam.Role) -> None:
    """The reviewed exceptions every function of the stack shares."""
    suppress(
        role,
        "IAM5",
        "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level "
        "permissions; CDK adds them for active tracing.",
        applies_to=["Resource::*"],
    )
    suppress(
        role,
        "IAM5",
        "CDK's grants for the KMS-encrypted table, queues and topic name the data-key "
        "operations with a wildcard (GenerateDataKey*, ReEncrypt*); they hold for the stack's "
        "one key only.",
        applies_to=["Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"],
    )
    suppress(
        role,
        "IAM5",
        "The submissions table's own secondary indexes (by district, by digest, pending); "
        "the functions query them.",
        applies_to=[{"regex": r"/^Resource::<SubmissionsTable[0-9A-F]+\.Arn>\/index\/\*$/"}],
    )
    suppress(
        role,
        "IAM5",
        "Objects under the bucket's own prefixes (incoming/ for dropped rosters, reports/ for "
        "reports, normalized/ and parts/ for what is sent): a roster may have any file name.",
        applies_to=[
            {
                "regex": r"/^Resource::<RosterBucket[0-9A-F]+\.Arn>\/"
                r"(incoming|reports|normalized|parts)\/\*$/"
            }
        ],
    )
    suppress(
        function,
        "L1",
        "The runtime is pinned to Python 3.12 with the wheels bundled for it "
        "(infra/bundling.py); moving to a newer runtime is a deliberate change of both.",
        children=False,
    )


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
