"""Signing in to CERS: the district's credential and Cognito InitiateAuth."""

from typing import Literal

from pydantic import BaseModel, SecretStr

from cers_groups.errors import CersGroupsError


class CersCredentials(BaseModel):
    username: str
    password: SecretStr
    client_id: str
    region: str
    client_secret: SecretStr | None = None
    token_use: Literal["id", "access"] = "id"


class AuthenticationError(CersGroupsError):
    """Cognito refused the credential or the sign-in could not complete."""


def read_credentials(secret_id: str) -> CersCredentials:
    raise NotImplementedError


def authenticate(credentials: CersCredentials) -> str:
    raise NotImplementedError
