"""What a handler needs to know about its deployment, read from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cers_groups import resources
from cers_groups.cers import DEFAULT_ENDPOINT
from cers_groups.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    bucket: str
    submissions_table: str
    alert_topic_arn: str
    upload_queue_url: str
    cers_secret_id: str
    cers_endpoint: str
    district: str


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from environment variables named in ``resources``; a missing one is an error."""

    def required(resource: resources.Resource) -> str:
        value = environ.get(resource.env_var, "")
        if not value:
            raise ConfigurationError(
                f"environment variable {resource.env_var} is not set; the deployment sets it"
            )
        return value

    return Settings(
        bucket=required(resources.ROSTER_BUCKET),
        submissions_table=required(resources.SUBMISSIONS_TABLE),
        alert_topic_arn=required(resources.ALERT_TOPIC),
        upload_queue_url=required(resources.UPLOAD_QUEUE),
        cers_secret_id=required(resources.CERS_SECRET),
        cers_endpoint=environ.get(resources.CERS_ENDPOINT_ENV) or DEFAULT_ENDPOINT,
        district=environ.get(resources.DISTRICT_ENV) or resources.DEFAULT_DISTRICT,
    )
