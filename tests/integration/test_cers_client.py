"""The product's Cognito sign-in and CERS client against moto's server and the CERS stand-in."""

import hashlib
import io
import json
import socket
import threading
import uuid
from contextlib import contextmanager

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from cers_groups import cers as cers_module
from cers_groups.cers import CersClient, CersError
from cers_groups.cognito import AuthenticationError, authenticate, read_credentials
from cers_groups.errors import ConfigurationError
from local_stack.cers_standin import CersStandIn
from local_stack.cognito import create_district_login, credential_secret
from local_stack.moto_server import moto_server

HEADER = "group_name,school_natural_id,school_year,subject_code,student_ssid,group_user_login"
SCHOOL = "19647330000001"
VALID = (
    f"{HEADER}\r\n"
    f"Math7,{SCHOOL},2025,Math,1000000001,teacher@sampleusd.example.org\r\n"
    f"Math7,{SCHOOL},2025,Math,1000000002,\r\n"
    f"Ela7,{SCHOOL},2025,ELA,1000000001,teacher@sampleusd.example.org\r\n"
).encode()
REJECTED = (
    f"{HEADER}\r\n"
    f"Math7,{SCHOOL},1718,Math,1000000001,\r\n"
    f"Math7,{SCHOOL},1718,Math,1000000002,\r\n"
    f",{SCHOOL},2025,Math,1000000003,\r\n"
).encode()


@pytest.fixture(scope="module")
def aws():
    with moto_server() as url:
        yield url


@pytest.fixture(autouse=True)
def fresh_parameter_cache():
    parameters.clear_caches()
    yield
    parameters.clear_caches()


@pytest.fixture
def login(aws):
    return create_district_login(with_client_secret=True)


def store_secret(value: str) -> str:
    secret_id = f"cers-groups/test-{uuid.uuid4().hex[:8]}/cers-credentials"
    boto3.client("secretsmanager").create_secret(Name=secret_id, SecretString=value)
    return secret_id


@pytest.fixture
def secret_id(login):
    return store_secret(json.dumps(credential_secret(login)))


@pytest.fixture
def token(secret_id):
    return authenticate(read_credentials(secret_id))


@pytest.fixture
def cers(login):
    with CersStandIn(login["jwks_url"], issuer=login["issuer"], schools={SCHOOL}) as standin:
        yield standin


@pytest.fixture
def client(cers, token):
    with CersClient(cers.endpoint, token, retry_backoff=0.01) as cers_client:
        yield cers_client


def submit(client: CersClient, data: bytes, filename: str = "roster.csv"):
    return client.submit_roster(filename, io.BytesIO(data), len(data))


# --- credentials and sign-in --------------------------------------------------------------------


def test_read_credentials_validates_the_secret(secret_id, login):
    credentials = read_credentials(secret_id)

    assert credentials.username == login["username"]
    assert credentials.client_secret.get_secret_value() == login["client_secret"]
    assert credentials.source == f"secret {secret_id}"


def test_read_credentials_is_cached_until_forced(secret_id, login):
    read_credentials(secret_id)
    changed = {**credential_secret(login), "username": "someone-else@example.org"}
    boto3.client("secretsmanager").put_secret_value(
        SecretId=secret_id, SecretString=json.dumps(changed)
    )

    assert read_credentials(secret_id).username == login["username"]
    assert read_credentials(secret_id, force_fetch=True).username == "someone-else@example.org"


def test_missing_secret_is_a_configuration_error(aws):
    with pytest.raises(ConfigurationError) as raised:
        read_credentials("cers-groups/nowhere/cers-credentials")

    message = str(raised.value)
    assert "cers-groups/nowhere/cers-credentials" in message
    assert "ResourceNotFoundException" in message
    assert '"client_id"' in message


def test_secret_that_is_not_json_is_a_configuration_error(aws):
    secret_id = store_secret("username=it password=hunter2-secret")

    with pytest.raises(ConfigurationError) as raised:
        read_credentials(secret_id)

    assert "not valid JSON" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_secret_missing_a_field_names_it_without_echoing_values(aws):
    secret_id = store_secret(json.dumps({"username": "it@x.org", "password": "hunter2-secret"}))

    with pytest.raises(ConfigurationError) as raised:
        read_credentials(secret_id)

    message = str(raised.value)
    assert "client_id: missing" in message
    assert "region: missing" in message
    assert "hunter2" not in message
    assert "it@x.org" not in message


def test_secret_that_is_a_json_list_is_a_configuration_error(aws):
    with pytest.raises(ConfigurationError):
        read_credentials(store_secret("[1, 2]"))


def test_authenticate_returns_an_id_token_by_default(secret_id):
    token = authenticate(read_credentials(secret_id))

    assert token.count(".") == 2


def test_wrong_password(login):
    secret_id = store_secret(json.dumps({**credential_secret(login), "password": "Wrong-Pass-1"}))

    with pytest.raises(AuthenticationError) as raised:
        authenticate(read_credentials(secret_id))

    assert raised.value.reason == "wrong-password"
    assert secret_id in str(raised.value)
    assert "TOMS" in str(raised.value)
    assert "Wrong-Pass-1" not in str(raised.value)


def test_unknown_user(login):
    secret = {**credential_secret(login), "username": "nobody@sampleusd.example.org"}

    with pytest.raises(AuthenticationError) as raised:
        authenticate(read_credentials(store_secret(json.dumps(secret))))

    assert raised.value.reason == "user-not-found"


def test_unknown_client_id(login):
    secret = {**credential_secret(login), "client_id": "0000000000unknownclient"}

    with pytest.raises(AuthenticationError) as raised:
        authenticate(read_credentials(store_secret(json.dumps(secret))))

    assert raised.value.reason == "client-misconfigured"


def test_temporary_password_is_not_answered(login):
    boto3.client("cognito-idp").admin_create_user(
        UserPoolId=login["pool_id"],
        Username="new@sampleusd.example.org",
        TemporaryPassword="Temporary-Pass-1",
        MessageAction="SUPPRESS",
    )
    secret = {
        **credential_secret(login),
        "username": "new@sampleusd.example.org",
        "password": "Temporary-Pass-1",
    }

    with pytest.raises(AuthenticationError) as raised:
        authenticate(read_credentials(store_secret(json.dumps(secret))))

    assert raised.value.reason == "new-password-required"


def test_cognito_unreachable(secret_id, monkeypatch):
    credentials = read_credentials(secret_id)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    with pytest.raises(AuthenticationError) as raised:
        authenticate(credentials)

    assert raised.value.reason == "unreachable"


# --- uploads ------------------------------------------------------------------------------------


def test_valid_roster_is_accepted(client, cers, login):
    result = submit(client, VALID, filename="exports/2025-09-01/roster.csv")

    assert result.status == "ACCEPTED"
    assert result.digest == hashlib.md5(VALID, usedforsecurity=False).hexdigest().upper()
    assert result.batch == "roster.csv"
    assert result.message == f"2 groups accepted for {SCHOOL}."
    [post] = cers.received
    assert post.multipart
    assert post.batch == "roster.csv"
    assert post.content_type == "text/csv"
    assert post.size == len(VALID)
    assert post.content_length is not None and post.content_length > len(VALID)
    assert post.request_content_type.startswith("multipart/form-data; boundary=")
    assert post.bearer_user == login["username"]


def test_roster_streams_from_an_s3_body(client):
    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket="rosters-stream-test",
        CreateBucketConfiguration={"LocationConstraint": s3.meta.region_name},
    )
    s3.put_object(Bucket="rosters-stream-test", Key="incoming/roster.csv", Body=VALID)
    obj = s3.get_object(Bucket="rosters-stream-test", Key="incoming/roster.csv")

    result = client.submit_roster("incoming/roster.csv", obj["Body"], obj["ContentLength"])

    assert result.status == "ACCEPTED"
    assert result.digest == hashlib.md5(VALID, usedforsecurity=False).hexdigest().upper()


def test_access_token_is_accepted_too(login, cers):
    secret_id = store_secret(json.dumps(credential_secret(login, token_use="access")))
    token = authenticate(read_credentials(secret_id))

    with CersClient(cers.endpoint, token) as client:
        assert submit(client, VALID).status == "ACCEPTED"


def test_rejected_roster_is_bad_data_with_row_failures(client):
    result = submit(client, REJECTED)

    assert result.status == "BAD_DATA"
    assert result.message == (
        "Row: 1 Failure: Invalid school year: 1718\n"
        "Row: 3 Failure: Record does not contain a group name"
    )


def test_resending_while_accepted_accepts_again(client, cers):
    first = submit(client, VALID)
    second = submit(client, VALID)

    assert second.id == first.id
    assert second.status == "ACCEPTED"
    assert len(cers.received) == 2


def test_resending_processed_bytes_returns_the_old_record(client, cers):
    first = submit(client, VALID)
    processed = cers.process(first.id)

    again = submit(client, VALID, filename="renamed.csv")

    assert again.id == first.id
    assert again.status == "PROCESSED"
    assert again.batch == "roster.csv"
    assert again.updated == processed.updated


def test_processed_bytes_that_now_fail_are_overwritten_to_bad_data(client, cers):
    first = submit(client, VALID)
    cers.process(first.id)
    cers.validator.schools = frozenset()  # the login lost the school

    again = submit(client, VALID)

    assert again.id == first.id
    assert again.status == "BAD_DATA"
    assert again.message == f"Row: 1 Failure: School [{SCHOOL}] can not be found"


def test_bad_data_bytes_that_now_pass_are_accepted(client, cers):
    cers.validator.schools = frozenset()
    first = submit(client, VALID)
    cers.validator.schools = frozenset({SCHOOL})

    again = submit(client, VALID)

    assert first.status == "BAD_DATA"
    assert again.id == first.id
    assert again.status == "ACCEPTED"


def test_rejected_bytes_stay_bad_data(client):
    first = submit(client, REJECTED)
    again = submit(client, REJECTED)

    assert (again.id, again.status) == (first.id, "BAD_DATA")


# --- HTTP failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["not-a-jwt", ""])
def test_bad_or_missing_token_is_unauthorized(cers, token):
    with CersClient(cers.endpoint, token) as client, pytest.raises(CersError) as raised:
        submit(client, VALID)

    assert raised.value.reason == "unauthorized"
    assert raised.value.status == 401
    assert cers.received[0].http_status == 401


def test_token_from_another_user_pool_is_unauthorized(cers, aws):
    other = create_district_login(username="other@elsewhere.example.org")
    secret_id = store_secret(json.dumps(credential_secret(other)))
    token = authenticate(read_credentials(secret_id))

    with CersClient(cers.endpoint, token) as client, pytest.raises(CersError) as raised:
        client.current_user()

    assert raised.value.reason == "unauthorized"


def test_login_without_group_write_is_forbidden(login, token):
    with (
        CersStandIn(login["jwks_url"], schools={SCHOOL}, group_writers=()) as cers,
        CersClient(cers.endpoint, token) as client,
        pytest.raises(CersError) as raised,
    ):
        submit(client, VALID)

    assert raised.value.reason == "forbidden"
    assert "PERM_GROUP_WRITE" in str(raised.value)


def test_server_error(client):
    short_header = b"group_name,school_natural_id\r\nMath7,S1\r\n"

    with pytest.raises(CersError) as raised:
        submit(client, short_header)

    assert raised.value.reason == "server-error"
    assert raised.value.status == 500


def test_standin_down_is_unreachable_after_retries(cers, token, monkeypatch):
    endpoint = cers.endpoint
    cers.stop()
    waits = []
    monkeypatch.setattr(cers_module.time, "sleep", waits.append)

    with (
        CersClient(endpoint, token, connect_retries=3, retry_backoff=0.5) as client,
        pytest.raises(CersError) as raised,
    ):
        submit(client, VALID)

    assert raised.value.reason == "unreachable"
    assert "Nothing was sent" in str(raised.value)
    assert waits == [0.5, 1.0, 2.0]


def test_read_timeout_after_sending_is_outcome_unknown(token, monkeypatch):
    waits = []
    monkeypatch.setattr(cers_module.time, "sleep", waits.append)

    with (
        silent_server(answer=None) as (endpoint, connections),
        CersClient(endpoint, token, read_timeout=0.3) as client,
        pytest.raises(CersError) as raised,
    ):
        submit(client, VALID)

    assert raised.value.reason == "outcome-unknown"
    assert connections == [1]
    assert waits == []


def test_connection_dropped_mid_response_is_outcome_unknown(token):
    partial = b'HTTP/1.1 202 Accepted\r\nContent-Length: 500\r\n\r\n{"id": 1'

    with (
        silent_server(answer=partial) as (endpoint, connections),
        CersClient(endpoint, token) as client,
        pytest.raises(CersError) as raised,
    ):
        submit(client, VALID)

    assert raised.value.reason == "outcome-unknown"
    assert connections == [1]


def test_stream_shorter_than_its_size(client):
    with pytest.raises(CersError) as raised:
        client.submit_roster("roster.csv", io.BytesIO(VALID), len(VALID) + 10)

    assert raised.value.reason == "size-mismatch"


def test_endpoint_must_be_a_url():
    with pytest.raises(ConfigurationError):
        CersClient("groups.import.example.org/groups/imports/", "token")


# --- queries ------------------------------------------------------------------------------------


def test_find_imports_by_batch(client):
    submitted = submit(client, VALID, filename="find-me.csv")
    submit(client, REJECTED, filename="other.csv")

    found = client.find_imports("find-me.csv")

    assert [item.id for item in found] == [submitted.id]
    assert found[0].digest == submitted.digest


def test_find_imports_by_status(client):
    submit(client, VALID)
    rejected = submit(client, REJECTED)

    assert [item.id for item in client.find_imports(status="BAD_DATA")] == [rejected.id]


def test_find_imports_needs_a_filter(client):
    with pytest.raises(ValueError):
        client.find_imports()


def test_current_user(client, login):
    user = client.current_user()

    assert user["username"] == login["username"]
    assert {"authority": "PERM_GROUP_WRITE"} in user["authorities"]


# --- helpers ------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def silent_server(answer: bytes | None):
    """A TCP server that reads the whole request, then sends ``answer`` and hangs up, or hangs.

    Yields its endpoint and a one-item list counting the connections it accepted.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    connections = [0]
    stop = threading.Event()
    open_sockets = []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            connections[0] += 1
            open_sockets.append(conn)
            read_request(conn)
            if answer is not None:
                conn.sendall(answer)
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/groups/imports/", connections
    finally:
        stop.set()
        thread.join()
        for conn in open_sockets:
            conn.close()
        listener.close()


def read_request(conn: socket.socket) -> None:
    """Read until the client pauses: headers and body of one small request."""
    conn.settimeout(0.2)
    try:
        while conn.recv(65536):
            pass
    except TimeoutError:
        pass


def test_read_credentials_refuses_the_stack_placeholder(aws):
    secret_id = store_secret(
        json.dumps(
            {
                "username": "REPLACE-with-TOMS-username",
                "password": "generated-by-the-stack",
                "client_id": "REPLACE-with-Cognito-app-client-id",
                "region": "us-west-2",
            }
        )
    )

    with pytest.raises(ConfigurationError, match="still holds the placeholder"):
        read_credentials(secret_id)
