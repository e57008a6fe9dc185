"""What a handler needs to know about its deployment, read from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from cers_groups import resources
from cers_groups.errors import ConfigurationError
from cers_groups.tenants import Tenants, load_tenants

# CERS validates a file inside the POST; the state's guide puts a 1,000,000-row file at about
# 20 minutes, more than a Lambda may run (15). The uploader stops waiting after 13 minutes, which
# leaves time to look the import up by batch and record the outcome before Lambda stops it.
DEFAULT_READ_TIMEOUT = 780.0
DEFAULT_CONNECT_TIMEOUT = 10.0
# First wait before another try at CERS or Cognito (doubling, capped); seconds.
DEFAULT_RETRY_DELAY = 2.0
# A submission still ACCEPTED (or unconfirmed) this long after it was sent is reported.
DEFAULT_DEADLINE = 7200.0
# After an ACCEPTED answer the uploader watches the import this long (small files finish in
# seconds), so a district's next file need not wait for the poller. 780 + 60 + lookups < 900.
DEFAULT_FOLLOW = 60.0


CONNECT_TIMEOUT_ENV = "CERS_CONNECT_TIMEOUT_SECONDS"
READ_TIMEOUT_ENV = "CERS_READ_TIMEOUT_SECONDS"
RETRY_DELAY_ENV = "CERS_RETRY_DELAY_SECONDS"
DEADLINE_ENV = "CERS_DEADLINE_SECONDS"
FOLLOW_ENV = "CERS_FOLLOW_SECONDS"


@dataclass(frozen=True)
class Settings:
    bucket: str
    submissions_table: str
    alert_topic_arn: str
    upload_queue_url: str
    tenants: Tenants
    tokens_table: str = ""
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    retry_delay: float = DEFAULT_RETRY_DELAY
    deadline: float = DEFAULT_DEADLINE
    follow: float = DEFAULT_FOLLOW


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
        tokens_table=environ.get(resources.TOKENS_TABLE.env_var, ""),
        connect_timeout=_seconds(environ, CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT),
        read_timeout=_seconds(environ, READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT),
        retry_delay=_seconds(environ, RETRY_DELAY_ENV, DEFAULT_RETRY_DELAY),
        deadline=_seconds(environ, DEADLINE_ENV, DEFAULT_DEADLINE),
        follow=_seconds(environ, FOLLOW_ENV, DEFAULT_FOLLOW),
    )


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigurationError(f"environment variable {name} must be a number of seconds")
    return value


@lru_cache(maxsize=4)
def _tenants(path: str) -> Tenants:
    """Read once per container: the file ships inside the function's code and never changes."""
    return load_tenants(path)
