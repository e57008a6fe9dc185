"""Create, on moto's server, the same resources the CDK stack deploys, under their local names."""

import json
from dataclasses import dataclass

import boto3

from cers_groups import resources
from cers_groups.resources import INCOMING_PREFIX
from cers_groups.tenants import Tenants

LOCAL_VISIBILITY_SECONDS = "2"  # short, so a failed message comes back quickly in the demo
MAX_RECEIVES = "3"


@dataclass(frozen=True)
class LocalResources:
    bucket: str
    validate_queue_url: str
    validate_dlq_url: str
    upload_queue_url: str
    upload_dlq_url: str
    table: str
    topic_arn: str
    mailbox_url: str
    tokens_table: str

    def environment(self, tenants_file: str) -> dict[str, str]:
        """The environment variables the stack gives the functions, with local values."""
        return {
            resources.ROSTER_BUCKET.env_var: self.bucket,
            resources.VALIDATE_QUEUE.env_var: self.validate_queue_url,
            resources.VALIDATE_DLQ.env_var: self.validate_dlq_url,
            resources.UPLOAD_QUEUE.env_var: self.upload_queue_url,
            resources.UPLOAD_DLQ.env_var: self.upload_dlq_url,
            resources.SUBMISSIONS_TABLE.env_var: self.table,
            resources.ALERT_TOPIC.env_var: self.topic_arn,
            resources.TENANTS_FILE_ENV: tenants_file,
            resources.TOKENS_TABLE.env_var: self.tokens_table,
        }


def create_resources(tenants: Tenants, credentials: dict[str, dict]) -> LocalResources:
    """Bucket, queues, table, topic and one secret per district, wired as in the stack.

    ``credentials`` maps a district id to the JSON its secret holds.

    The topic also gets an SQS "mailbox" subscription so the demo and the tests can read the
    alert e-mails that moto does not deliver.
    """
    validate_dlq = _queue(resources.VALIDATE_DLQ.local_name, fifo=False)
    validate_queue = _queue(resources.VALIDATE_QUEUE.local_name, fifo=False, dlq=validate_dlq)
    upload_dlq = _queue(resources.UPLOAD_DLQ.local_name, fifo=True)
    upload_queue = _queue(resources.UPLOAD_QUEUE.local_name, fifo=True, dlq=upload_dlq)
    bucket = _bucket(resources.ROSTER_BUCKET.local_name, notify_queue=validate_queue)
    topic_arn, mailbox_url = _topic(resources.ALERT_TOPIC.local_name, tenants)
    for district in tenants.districts:
        _secret(district.secret_name, credentials[district.id])
    return LocalResources(
        bucket=bucket,
        validate_queue_url=validate_queue,
        validate_dlq_url=validate_dlq,
        upload_queue_url=upload_queue,
        upload_dlq_url=upload_dlq,
        table=create_submissions_table(resources.SUBMISSIONS_TABLE.local_name),
        topic_arn=topic_arn,
        mailbox_url=mailbox_url,
        tokens_table=create_tokens_table(resources.TOKENS_TABLE.local_name),
    )


def _queue(name: str, *, fifo: bool, dlq: str | None = None) -> str:
    sqs = boto3.client("sqs")
    attributes = {"VisibilityTimeout": LOCAL_VISIBILITY_SECONDS}
    if fifo:
        attributes["FifoQueue"] = "true"
    if dlq:
        dlq_arn = _queue_arn(dlq)
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}
        )
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def _queue_arn(queue_url: str) -> str:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )
    return attributes["Attributes"]["QueueArn"]


def _bucket(name: str, *, notify_queue: str) -> str:
    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": s3.meta.region_name}
    )
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": _queue_arn(notify_queue),
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {"FilterRules": [{"Name": "prefix", "Value": INCOMING_PREFIX}]}
                    },
                }
            ]
        },
    )
    return name


def create_submissions_table(name: str) -> str:
    """The submissions table with the stack's secondary indexes and time to live."""
    indexes = resources.SUBMISSION_INDEXES
    key_names = {resources.SUBMISSION_KEY}
    key_names.update(name for index in indexes for name in (index.partition_key, index.sort_key))
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": resources.SUBMISSION_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": key, "AttributeType": "S"} for key in sorted(key_names)
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in indexes
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("dynamodb").update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": resources.SUBMISSION_EXPIRY},
    )
    return name


def create_tokens_table(name: str) -> str:
    """The districts' shared Cognito tokens, with the stack's TTL attribute."""
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": resources.TOKEN_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": resources.TOKEN_KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={
            "Enabled": True,
            "AttributeName": resources.TOKEN_TTL_ATTRIBUTE,
        },
    )
    return name


def _topic(name: str, tenants: Tenants) -> tuple[str, str]:
    sns = boto3.client("sns")
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    for district in tenants.districts:
        policy = json.dumps({resources.ALERT_DISTRICT_ATTRIBUTE: [district.id]})
        for address in district.alert_emails:
            sns.subscribe(
                TopicArn=topic_arn,
                Protocol="email",
                Endpoint=address,
                Attributes={"FilterPolicy": policy},
            )
    for address in tenants.operator_emails:
        sns.subscribe(TopicArn=topic_arn, Protocol="email", Endpoint=address)
    mailbox_url = _queue(f"{name}-mailbox", fifo=False)
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=_queue_arn(mailbox_url))
    return topic_arn, mailbox_url


def _secret(name: str, credential: dict) -> str:
    secret = boto3.client("secretsmanager").create_secret(
        Name=name, SecretString=json.dumps(credential)
    )
    return secret["ARN"]
