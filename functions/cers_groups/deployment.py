"""Where a deployment's resources are, for the command line.

A deployed stack is found from its CloudFormation outputs: each resource output's description
is the environment variable that carries the same value to the functions (``ROSTER_BUCKET``,
``SUBMISSIONS_TABLE``...), and each district has an output naming its secret. The local stack
(``make local``) writes the same facts, with its endpoint, to a JSON file, ``.local-stack.json``
by default.
"""

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from cers_groups import resources
from cers_groups.errors import CersGroupsError

LOCAL_FILE_ENV = "CERS_GROUPS_LOCAL"
LOCAL_FILE_NAME = ".local-stack.json"
STACK_ENV = "CERS_GROUPS_STACK"

# moto accepts any credentials; these keep boto3 from looking for real ones.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

_REQUIRED = (
    resources.ROSTER_BUCKET,
    resources.SUBMISSIONS_TABLE,
    resources.ALERT_TOPIC,
    resources.VALIDATE_QUEUE,
    resources.VALIDATE_DLQ,
    resources.UPLOAD_QUEUE,
    resources.UPLOAD_DLQ,
)


class DeploymentNotFoundError(CersGroupsError):
    """No deployment where the command line looked; the message says where and what to do."""


@dataclass(frozen=True)
class Deployment:
    """One deployment's resources, and how to reach them."""

    description: str  # for people: "stack CersGroups (us-west-2)", "local stack at http://..."
    values: Mapping[str, str]  # environment variable name -> value, as the functions get them
    districts: tuple[str, ...]
    endpoint_url: str | None = None  # the local stack's; None for AWS itself
    region: str | None = None

    def value(self, resource: resources.Resource) -> str:
        return self.values[resource.env_var]

    @property
    def bucket(self) -> str:
        return self.value(resources.ROSTER_BUCKET)

    @property
    def table(self) -> str:
        return self.value(resources.SUBMISSIONS_TABLE)

    @property
    def upload_queue_url(self) -> str:
        return self.value(resources.UPLOAD_QUEUE)

    @contextmanager
    def connected(self) -> Iterator["Deployment"]:
        """Points boto3 at the deployment for the duration: a no-op for AWS itself."""
        if self.endpoint_url is None:
            yield self
            return
        overrides = {**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint_url}
        if self.region:
            overrides.update(AWS_REGION=self.region, AWS_DEFAULT_REGION=self.region)
        saved = {name: os.environ.get(name) for name in overrides}
        os.environ.update(overrides)
        try:
            yield self
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def find_deployment(
    *, local: bool = False, stack_name: str | None = None, environ: Mapping[str, str] = os.environ
) -> Deployment:
    """The local stack when asked for (``--local`` or ``CERS_GROUPS_LOCAL``), else the stack."""
    local_file = local_file_path(local, environ)
    if local_file is not None:
        return read_local_file(local_file)
    return find_stack(stack_name or environ.get(STACK_ENV) or resources.STACK_NAME)


def local_file_path(local: bool, environ: Mapping[str, str] = os.environ) -> Path | None:
    """``CERS_GROUPS_LOCAL`` names the file, or says to use ``./.local-stack.json`` (``1``)."""
    setting = environ.get(LOCAL_FILE_ENV, "").strip()
    if setting.lower() in {"0", "false", "no"}:
        setting = ""
    if not (local or setting):
        return None
    if setting and setting.lower() not in {"1", "true", "yes"}:
        return Path(setting)
    return Path.cwd() / LOCAL_FILE_NAME


def find_stack(stack_name: str) -> Deployment:
    try:
        client = boto3.client("cloudformation")
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" not in str(error):
            raise
        region = boto3.session.Session().region_name
        raise DeploymentNotFoundError(
            f"stack {stack_name} not found in region {region}: deploy it, name another with"
            f" --stack or {STACK_ENV}, pick the region with AWS_DEFAULT_REGION, or use --local"
        ) from error
    except BotoCoreError as error:
        raise DeploymentNotFoundError(
            f"cannot look up stack {stack_name}: {str(error).rstrip('.')}. Set AWS_PROFILE and"
            " AWS_DEFAULT_REGION (or sign in with `aws sso login`), or use --local for the local"
            " stack"
        ) from error
    region = client.meta.region_name
    return from_outputs(stacks[0].get("Outputs", []), f"stack {stack_name} ({region})", region)


def from_outputs(outputs: list[dict[str, Any]], description: str, region: str | None) -> Deployment:
    """A deployment from CloudFormation outputs (``OutputValue`` and ``Description``)."""
    values: dict[str, str] = {}
    districts = []
    district_prefix = resources.DISTRICT_SECRET_OUTPUT.format(district="")
    for output in outputs:
        label = output.get("Description", "")
        if label.startswith(district_prefix):
            districts.append(label[len(district_prefix) :])
        elif label:
            values[label] = output["OutputValue"]
    return _checked(Deployment(description, values, tuple(sorted(districts)), None, region))


def read_local_file(path: Path) -> Deployment:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise DeploymentNotFoundError(
            f"no local stack: {path} does not exist. Start one with `make local` (it writes the"
            f" file), or unset {LOCAL_FILE_ENV} to use the deployed stack"
        ) from error
    except (OSError, json.JSONDecodeError) as error:
        raise DeploymentNotFoundError(
            f"cannot read the local stack file {path} ({error}); restart `make local`"
        ) from error
    endpoint = document.get("endpoint_url")
    deployment = Deployment(
        description=f"local stack at {endpoint}",
        values=document.get("resources", {}),
        districts=tuple(document.get("districts", ())),
        endpoint_url=endpoint,
        region=document.get("region"),
    )
    if not endpoint:
        raise DeploymentNotFoundError(f"{path} names no endpoint_url; restart `make local`")
    return _checked(deployment)


def write_local_file(path: Path, deployment: Deployment, **extra: Any) -> None:
    """Records a running local stack for the command line (``extra``: facts for people)."""
    document = {
        "endpoint_url": deployment.endpoint_url,
        "region": deployment.region,
        "resources": dict(deployment.values),
        "districts": list(deployment.districts),
        **extra,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _checked(deployment: Deployment) -> Deployment:
    missing = [r.env_var for r in _REQUIRED if not deployment.values.get(r.env_var)]
    if missing:
        raise DeploymentNotFoundError(
            f"{deployment.description} does not name {', '.join(missing)}; deploy the current"
            " version of the stack (or restart `make local`)"
        )
    return deployment
