"""The one place that names the deployment's resources.

The CDK stack uses ``construct_id`` and hands the physical name to each function through
``env_var``; the local stack creates the same resources under ``local_name``. Handlers only ever
read the environment variable, so they run unchanged in both places.
"""

from dataclasses import dataclass


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
CERS_SECRET = Resource("CersCredentials", "CERS_SECRET_ID", "cers-groups/default/cers-credentials")

# The stack's secret starts with placeholder values beginning with this; sign-in refuses them.
SECRET_PLACEHOLDER = "REPLACE-"

# Settings that are not resources.
CERS_ENDPOINT_ENV = "CERS_ENDPOINT"
DISTRICT_ENV = "DISTRICT_ID"
DEFAULT_DISTRICT = "default"

# Where SIS exports drop files, and where the product writes what it derives from them.
INCOMING_PREFIX = "incoming/"
REPORTS_PREFIX = "reports/"

# The submissions table: one item per dropped object.
SUBMISSION_KEY = "submission_id"
