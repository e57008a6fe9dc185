"""The one place that names the deployment's resources.

The CDK stack uses ``construct_id`` and hands the physical name to each function through
``env_var``; the local stack creates the same resources under ``local_name``. Handlers only ever
read the environment variable, so they run unchanged in both places.
"""

from dataclasses import dataclass

# The CloudFormation stack's name; the command line finds a deployment by it.
STACK_NAME = "CersGroups"


@dataclass(frozen=True)
class Resource:
    construct_id: str
    env_var: str
    local_name: str


ROSTER_BUCKET = Resource("RosterBucket", "ROSTER_BUCKET", "cers-groups-rosters")
VALIDATE_QUEUE = Resource("ValidateQueue", "VALIDATE_QUEUE_URL", "cers-groups-validate")
VALIDATE_DLQ = Resource("ValidateDeadLetterQueue", "VALIDATE_DLQ_URL", "cers-groups-validate-dlq")
UPLOAD_QUEUE = Resource("UploadQueue", "UPLOAD_QUEUE_URL", "cers-groups-upload.fifo")
UPLOAD_DLQ = Resource("UploadDeadLetterQueue", "UPLOAD_DLQ_URL", "cers-groups-upload-dlq.fifo")
SUBMISSIONS_TABLE = Resource("SubmissionsTable", "SUBMISSIONS_TABLE", "cers-groups-submissions")
ALERT_TOPIC = Resource("AlertTopic", "ALERT_TOPIC_ARN", "cers-groups-alerts")
# Each district's current Cognito tokens, shared by every Lambda container (cers_groups.tokens).
TOKENS_TABLE = Resource("TokensTable", "TOKENS_TABLE", "cers-groups-tokens")
TOKEN_KEY = "district"  # noqa: S105 - a key name
# Epoch seconds after which DynamoDB deletes a district's tokens (its refresh token has expired).
TOKEN_TTL_ATTRIBUTE = "expires_ttl"  # noqa: S105 - an attribute name

# The stack's secret starts with placeholder values beginning with this; sign-in refuses them.
SECRET_PLACEHOLDER = "REPLACE-"  # noqa: S105 - a marker, not a secret

# The districts file (see cers_groups.tenants): its path in the function's environment, and
# where the bundled copy lives inside the Lambda asset.
TENANTS_FILE_ENV = "TENANTS_FILE"
BUNDLED_TENANTS_FILE = "tenants.json"
# Each district's CERS credential is a secret of its own; this is its construct id prefix.
CERS_SECRET_CONSTRUCT_PREFIX = "CersCredentials"  # noqa: S105 - a construct id
# The description of the stack output naming a district's secret; the command line reads the
# deployment's districts from these.
DISTRICT_SECRET_OUTPUT = "CERS secret of district {district}"  # noqa: S105 - a description

# Alerts carry their district as an SNS message attribute, and each district's e-mail
# subscriptions filter on it. Operators' addresses receive every alert, including those about
# files dropped outside every district's folder, which carry OPERATORS_AUDIENCE instead.
ALERT_DISTRICT_ATTRIBUTE = "district"
OPERATORS_AUDIENCE = "operators"

# Where SIS exports drop files, and where the product writes what it derives from them.
INCOMING_PREFIX = "incoming/"
REPORTS_PREFIX = "reports/"
# The normalized copy of a dropped roster (what is sent), and the parts of one too big to send
# whole: normalized/<submission id>/<file name>, parts/<submission id>/part-NNN.csv.
NORMALIZED_PREFIX = "normalized/"
PARTS_PREFIX = "parts/"

# The submissions table: one item per dropped object. DynamoDB deletes an item some time after
# the epoch second in SUBMISSION_EXPIRY (its time-to-live attribute).
SUBMISSION_KEY = "submission_id"
SUBMISSION_EXPIRY = "expires_at"


@dataclass(frozen=True)
class Index:
    """A global secondary index of the submissions table; both keys are strings."""

    name: str
    partition_key: str
    sort_key: str


# A district's submissions in time order.
BY_DISTRICT_INDEX = Index("by-district", "district", "created_at")
# Earlier submissions of the same bytes by the same district: "<district>#<digest>".
BY_DIGEST_INDEX = Index("by-digest", "district_digest", "created_at")
# Sparse: only submissions waiting on something (CERS processing, a person) carry "pending",
# whose value is their status.
PENDING_INDEX = Index("pending", "pending", "updated_at")
SUBMISSION_INDEXES = (BY_DISTRICT_INDEX, BY_DIGEST_INDEX, PENDING_INDEX)


# CloudWatch metrics the functions emit (Powertools, embedded metric format). Every metric
# carries the SERVICE_DIMENSION; the per-district ones carry DISTRICT_DIMENSION as well, and
# the stack's alarms and dashboard name them with exactly these dimensions.
METRICS_NAMESPACE = "CersGroups"
SERVICE_NAME = "cers-groups"
SERVICE_DIMENSION = "service"
DISTRICT_DIMENSION = "district"
FILES_RECEIVED = "FilesReceived"  # also per district: the heartbeat alarms count it
FILES_VALID = "FilesValid"
FILES_INVALID = "FilesInvalid"
FILES_UPLOADED = "FilesUploaded"
FILES_PROCESSED = "FilesProcessed"
FILES_FAILED = "FilesFailed"
ROWS_VALIDATED = "RowsValidated"
VALIDATION_SECONDS = "ValidationSeconds"
UPLOAD_SECONDS = "UploadSeconds"
# Per district, from the scheduled poller: submissions ACCEPTED by CERS too long ago.
SUBMISSIONS_STUCK = "SubmissionsStuck"
