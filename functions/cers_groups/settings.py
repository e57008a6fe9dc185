"""What a handler needs to know about its deployment, read from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from cers_groups import resources
from cers_groups.errors import ConfigurationError
from cers_groups.tenants import Tenants, load_tenants


@dataclass(frozen=True)
class Settings:
    bucket: str
    submissions_table: str
    alert_topic_arn: str
    upload_queue_url: str
    tenants: Tenants


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from environment variables named in ``resources``; a missing one is an error."""

    def required(name: str) -> str:
        value = environ.get(name, "")
        if not value:
            raise ConfigurationError(
                f"environment variable {name} is not set; the deployment sets it"
            )
        return value

    return Settings(
        bucket=required(resources.ROSTER_BUCKET.env_var),
        submissions_table=required(resources.SUBMISSIONS_TABLE.env_var),
        alert_topic_arn=required(resources.ALERT_TOPIC.env_var),
        upload_queue_url=required(resources.UPLOAD_QUEUE.env_var),
        tenants=_tenants(required(resources.TENANTS_FILE_ENV)),
    )


@lru_cache(maxsize=4)
def _tenants(path: str) -> Tenants:
    """Read once per container: the file ships inside the function's code and never changes."""
    return load_tenants(path)
