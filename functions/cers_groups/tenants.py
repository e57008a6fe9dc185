"""The districts one deployment serves, read from the tenants file.

Each district drops files under ``incoming/<district id>/`` and has its own CERS credential,
endpoint, alert addresses and rule settings. The CDK app reads the same file, so the stack and
the functions always agree on who the districts are.
"""

import json
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cers_groups.cers import DEFAULT_ENDPOINT
from cers_groups.errors import ConfigurationError
from cers_groups.resources import INCOMING_PREFIX
from cers_groups.transport import LOOPBACK_HOSTS

DISTRICT_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,47}$"
# An IAM account root, role or user ARN: who may assume a district's drop role.
PRINCIPAL_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:(root|(role|user)/[A-Za-z0-9_+=,.@/-]+)$"
# AWS Transfer Family user names.
SFTP_USER_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_@.-]{2,99}$"
# CloudWatch evaluates an alarm over at most seven days of hourly periods.
MAX_HEARTBEAT_HOURS = 168
Check = Literal["error", "warning", "off"]
# Files larger than this are refused before a byte is read. Up to it, a file over CERS's
# 500 MB per upload is split into parts; the validator's temporary storage (4 GB) then holds
# the file, its normalized copy and its parts.
DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024


def school_year_of(today: date) -> int:
    """The school year in CERS's numbering: 2027 means 2026-27, which starts on July 1, 2026."""
    return today.year + 1 if today.month >= 7 else today.year


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSettings(_Settings):
    """Per-district roster rules on top of those every CERS file must meet."""

    school_years: tuple[int, ...] | None = None  # None: the current and the next school year
    subjects: tuple[str, ...] = ("Math", "ELA")
    allowed_schools: frozenset[str] | None = None  # None: any school id
    ssid_check: Check = "warning"  # 10-digit California SSID
    login_check: Check = "warning"  # e-mail address
    warnings_are_errors: bool = False
    normalize: bool = True
    row_limit: int = Field(default=1_000_000, ge=1, le=1_000_000)
    max_file_bytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, ge=1)

    def accepted_school_years(self, today: date | None = None) -> tuple[int, ...]:
        if self.school_years is not None:
            return self.school_years
        current = school_year_of(today or date.today())
        return (current, current + 1)


class HoldSettings(_Settings):
    """When a new file looks like a broken export rather than a real change of rosters."""

    enabled: bool = True
    group_drop: float = Field(default=0.5, gt=0, le=1)  # a group losing more than this share
    total_drop: float = Field(default=0.2, gt=0, le=1)  # all groups together losing this share


class District(_Settings):
    id: str = Field(pattern=DISTRICT_ID_PATTERN)
    name: str = ""
    secret_name: str = ""  # default: cers-groups/<id>/cers-credentials
    cers_endpoint: str = DEFAULT_ENDPOINT
    # Plain http is refused unless the endpoint is marked local and is on this machine.
    cers_endpoint_is_local: bool = False
    alert_emails: tuple[str, ...] = ()
    rules: RuleSettings = RuleSettings()
    hold: HoldSettings = HoldSettings()
    # Alarm when no file arrived in this many hours; None: no such alarm.
    heartbeat_hours: int | None = Field(default=None, ge=1, le=MAX_HEARTBEAT_HOURS)
    # One e-mail a day to the district's alert addresses: the files sent and their outcomes.
    daily_summary: bool = False
    # ARN allowed to assume this district's drop role (PutObject on its folder only).
    exporter_principal: str | None = Field(
        default=None, max_length=2048, pattern=PRINCIPAL_ARN_PATTERN
    )
    # The district's SFTP user, mapped to its folder; only with deployment.sftp_enabled.
    sftp_user: str | None = Field(default=None, pattern=SFTP_USER_PATTERN)

    @model_validator(mode="after")
    def _https_endpoint(self) -> "District":
        parts = urlsplit(self.cers_endpoint)
        loopback = parts.hostname in LOOPBACK_HOSTS
        if parts.scheme == "https" or (self.cers_endpoint_is_local and loopback):
            return self
        raise ValueError(
            "cers_endpoint must be an https:// URL (plain http only for a local stand-in on "
            "127.0.0.1 with cers_endpoint_is_local)"
        )

    @model_validator(mode="after")
    def _default_secret_name(self) -> "District":
        if not self.secret_name:
            object.__setattr__(self, "secret_name", f"cers-groups/{self.id}/cers-credentials")
        return self

    @property
    def prefix(self) -> str:
        return f"{INCOMING_PREFIX}{self.id}/"


class DeploymentSettings(_Settings):
    """Settings of the whole deployment rather than of one district."""

    # Dropped rosters (and normalized copies) expire this many days after they were written;
    # an overwritten or expired version is deleted this many days after that.
    roster_retention_days: int = Field(default=30, ge=1)
    # Validation reports, the same way.
    report_retention_days: int = Field(default=90, ge=1)
    # DynamoDB deletes a submission this many days after it was created; None keeps them.
    submission_ttl_days: int | None = Field(default=365, ge=1)
    # The roster bucket's access logs, in the separate log bucket.
    access_log_retention_days: int = Field(default=365, ge=1)
    # An AWS Transfer Family SFTP server for the districts with an sftp_user (billed hourly).
    sftp_enabled: bool = False


class Tenants(_Settings):
    operator_emails: tuple[str, ...] = ()
    districts: tuple[District, ...] = Field(min_length=1)
    deployment: DeploymentSettings = DeploymentSettings()

    @model_validator(mode="after")
    def _unique_ids(self) -> "Tenants":
        ids = [district.id for district in self.districts]
        if len(set(ids)) != len(ids):
            raise ValueError("district ids must be unique")
        users = [district.sftp_user for district in self.districts if district.sftp_user]
        if len(set(users)) != len(users):
            raise ValueError("sftp_user names must be unique")
        return self

    @cached_property
    def _by_id(self) -> dict[str, District]:
        return {district.id: district for district in self.districts}

    def district(self, district_id: str) -> District | None:
        return self._by_id.get(district_id)

    def district_for_key(self, key: str) -> District | None:
        """The district whose drop folder holds ``key``; None for a key outside every folder."""
        if not key.startswith(INCOMING_PREFIX):
            return None
        district_id = key[len(INCOMING_PREFIX) :].split("/", 1)[0]
        district = self.district(district_id)
        return district if district and key.startswith(district.prefix) else None


def load_tenants(path: Path | str) -> Tenants:
    """Read and check a tenants file; a broken file is a ConfigurationError naming the problem."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        return Tenants.model_validate(document)
    except OSError as error:
        raise ConfigurationError(f"cannot read the tenants file {path}: {error}") from error
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"tenants file {path} is not valid JSON: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigurationError(f"tenants file {path} is not valid: {problems}") from error
