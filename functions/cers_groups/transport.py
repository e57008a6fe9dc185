"""What every HTTPS call of the product insists on: https off this machine, certificates checked.

Plain http is accepted only to a loopback host (a local stand-in: the request never leaves the
machine). TLS verification cannot be turned off: requests lets ``REQUESTS_CA_BUNDLE`` or
``CURL_CA_BUNDLE`` replace the trusted certificates (an empty value is ignored and the default
store is used), and a caller could pass ``verify=False``; ``VerifiedSession`` checks what
requests will actually use on every request and refuses to send anything when verification is
off or the bundle named does not exist.
"""

import os
from urllib.parse import urlsplit

import requests

from cers_groups.errors import ConfigurationError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback(url: str) -> bool:
    """True when the URL's host is this machine."""
    return urlsplit(url).hostname in LOOPBACK_HOSTS


def plain_http_refused(url: str) -> bool:
    """True for an http URL to another machine: what carries a token or password never is."""
    return urlsplit(url).scheme != "https" and not is_loopback(url)


class VerifiedSession(requests.Session):
    """A requests session whose every request checks the server's TLS certificate."""

    def __init__(self) -> None:
        super().__init__()
        self.verify = True

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        require_verification(settings["verify"])
        return settings


def require_verification(verify: bool | str | None) -> None:
    """Raise ConfigurationError unless ``verify`` (requests' setting) checks certificates."""
    if verify is False or verify is None:
        raise ConfigurationError(
            "TLS certificate verification is turned off; nothing is sent without it"
        )
    if isinstance(verify, str) and not os.path.exists(verify):
        raise ConfigurationError(
            f"The certificate bundle {verify!r} (REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE) does not "
            "exist; remove the variable or point it at a bundle so certificates can be checked"
        )
