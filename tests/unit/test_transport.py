"""https off this machine and certificates always checked, for CERS and for Cognito."""

import datetime
import http.server
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cers_groups import cognito
from cers_groups.cers import CersClient, CersError
from cers_groups.cognito import AuthenticationError, CersCredentials
from cers_groups.errors import ConfigurationError
from cers_groups.transport import VerifiedSession, plain_http_refused

TOKEN = "eyJhbGciOiJSUzI1NiJ9.not-a-real-token.signature"


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests_seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.requests_seen.append(self.headers.get("Authorization", ""))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


def _self_signed(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@contextmanager
def _https_server(cert_file: str, key_file: str) -> Iterator[int]:
    """An https server on 127.0.0.1 with this certificate, recording requests; its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _Recorder.requests_seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def self_signed_cers(tmp_path) -> Iterator[str]:
    """An https server on 127.0.0.1 whose certificate nobody trusts; its imports URL."""
    with _https_server(*_self_signed(tmp_path)) as port:
        yield f"https://localhost:{port}/groups/imports/"


def test_cers_client_refuses_a_self_signed_certificate(self_signed_cers):
    with (
        CersClient(self_signed_cers, TOKEN, connect_retries=0) as client,
        pytest.raises(CersError) as raised,
    ):
        client.current_user()

    assert raised.value.reason == "unreachable"
    assert "SSLError" in str(raised.value)
    assert _Recorder.requests_seen == []  # the token never reached the server


def test_cers_client_refuses_it_with_empty_bundle_variables(self_signed_cers, monkeypatch):
    # requests ignores empty values: they must not turn checking off.
    monkeypatch.setenv("CURL_CA_BUNDLE", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")

    with (
        CersClient(self_signed_cers, TOKEN, connect_retries=0) as client,
        pytest.raises(CersError, match="SSLError"),
    ):
        client.current_user()

    assert _Recorder.requests_seen == []


def test_cers_client_refuses_a_bundle_that_does_not_exist(self_signed_cers, monkeypatch, tmp_path):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))

    with (
        CersClient(self_signed_cers, TOKEN, connect_retries=0) as client,
        pytest.raises(ConfigurationError, match="missing.pem"),
    ):
        client.current_user()

    assert _Recorder.requests_seen == []


def test_verified_session_refuses_verification_turned_off(self_signed_cers, monkeypatch):
    # With a bundle variable set, requests would use it over ``session.verify = False``.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session = VerifiedSession()

    with pytest.raises(ConfigurationError, match="verification is turned off"):
        session.get(self_signed_cers, verify=False, timeout=5)
    session.verify = False
    with pytest.raises(ConfigurationError, match="verification is turned off"):
        session.get(self_signed_cers, timeout=5)

    assert _Recorder.requests_seen == []


def test_verified_session_reaches_a_server_its_bundle_trusts(tmp_path, monkeypatch):
    # The control: the same kind of server is reached once its certificate is trusted, so the
    # refusals above are about trust, not about the test server.
    cert_file, key_file = _self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert_file)
    with _https_server(cert_file, key_file) as port, VerifiedSession() as session:
        url = f"https://localhost:{port}/imports/user"
        answer = session.get(url, headers={"Authorization": "Bearer x"}, timeout=5)

    assert answer.status_code == 200
    assert _Recorder.requests_seen == ["Bearer x"]


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("https://groups.import.smarterbalanced.org/groups/imports/", False),
        ("http://127.0.0.1:8080/groups/imports/", False),
        ("http://localhost:8080/groups/imports/", False),
        ("http://groups.import.smarterbalanced.org/groups/imports/", True),
        ("http://localhost.example.org/groups/imports/", True),
        ("http://127.0.0.1@cers.example.org/groups/imports/", True),
    ],
)
def test_plain_http_is_refused_off_this_machine(url, refused):
    assert plain_http_refused(url) is refused


def test_cers_client_refuses_plain_http_to_another_machine():
    with pytest.raises(ConfigurationError, match="plain http"):
        CersClient("http://groups.import.smarterbalanced.org/groups/imports/", TOKEN)


def test_cognito_sign_in_refuses_a_plain_http_endpoint(monkeypatch):
    # Refused before any call: an attempt would end as "unreachable" (no such host).
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "http://cognito.example.org")
    credentials = CersCredentials(
        username="it@sampleusd.example.org",
        password="Pa55-word-not-for-logs",
        client_id="4hs2kq0example7client",
        region="us-west-2",
    )

    with pytest.raises(AuthenticationError, match="plain http") as raised:
        cognito.sign_in(credentials)

    assert raised.value.reason == "client-misconfigured"
    assert "Pa55-word" not in str(raised.value)
