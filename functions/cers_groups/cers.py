"""HTTP adapter for the CERS groups import service."""

from datetime import datetime
from typing import BinaryIO

from pydantic import BaseModel

from cers_groups.errors import CersGroupsError

DEFAULT_ENDPOINT = "https://groups.import.smarterbalanced.org/groups/imports/"


class ImportResource(BaseModel):
    id: int
    status: str
    digest: str | None = None
    message: str | None = None
    batch: str | None = None
    created: datetime | None = None
    updated: datetime | None = None


class CersError(CersGroupsError):
    """CERS could not be reached or answered something other than an import resource."""


class CersClient:
    def __init__(self, endpoint: str, token: str) -> None:
        raise NotImplementedError

    def submit_roster(self, filename: str, stream: BinaryIO, size: int) -> ImportResource:
        raise NotImplementedError
