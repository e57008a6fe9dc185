"""The CERS stand-in itself: its validation messages (contract sections 1-2) and its HTTP API."""

import gzip
import hashlib
import importlib.resources
import json
import time

import pytest
import requests
from aws_lambda_powertools.utilities import parameters
from joserfc import jwt
from joserfc.jwk import RSAKey

from cers_groups.cognito import CersCredentials, authenticate
from local_stack.cers_standin import CersStandIn, Fault, RosterValidator, ServerFault
from local_stack.cognito import create_district_login
from local_stack.moto_server import moto_server

HEADER = "group_name,school_natural_id,school_year,subject_code,student_ssid,group_user_login"
INVALID_HEADERS = (
    "Row: 0 Failure: Invalid headers. Headers must be in order: "
    "[group_name,school_natural_id,school_year,subject_code,student_ssid,group_user_login]"
)
NOT_A_CSV = "Row: 0 Failure: File does not appear to be a valid CSV with a header row"
SCHOOLS = frozenset({"S1", "S2", "S3"})


def roster(*rows: str, header: str = HEADER, newline: str = "\r\n") -> bytes:
    return newline.join([header, *rows, ""]).encode()


def validate(data: bytes, schools=SCHOOLS):
    return RosterValidator(schools, range(2015, 2031), ("Math", "ELA")).validate(data)


def students(school: str, group: str, count: int, subject: str = "Math") -> list[str]:
    return [f"{group},{school},2025,{subject},{1000000000 + n}," for n in range(count)]


# --- validation: file level ---------------------------------------------------------------------


def test_valid_file_reports_groups_per_school():
    data = roster(
        "G1,S1,2025,Math,1000000001,t1@example.org",
        "G2,S1,2025,ELA,1000000002,",
        "G1,S2,2025,,,t2@example.org",
    )

    outcome = validate(data)

    assert outcome.passed
    assert outcome.message == "2 groups accepted for S1.\n1 group accepted for S2."


@pytest.mark.parametrize(
    "data",
    [
        roster("G1,S1,2025,Math,1,", header=HEADER.upper()),
        b"\xef\xbb\xbf" + roster("G1,S1,2025,Math,1,"),
        roster("G1,S1,2025,Math,1,", newline="\r"),
        roster("G1,S1,2025,Math,1,", newline="\n"),
        roster("G1,S1,2025,Math,1,,extra", header=HEADER + ",notes"),
        roster("G1,S1,2025,Math,1"),
    ],
    ids=["upper-case header", "bom", "cr", "lf", "extra column", "five fields"],
)
def test_tolerated_variations_pass(data):
    assert validate(data).message == "1 group accepted for S1."


@pytest.mark.parametrize("data", [b"", roster()], ids=["empty body", "header only"])
def test_empty_file(data):
    assert validate(data).message == "Row: 0 Failure: Empty file"


def test_header_name_with_space_fails_twice():
    data = roster("G1,S1,2025,Math,1,", header=HEADER.replace("group_name", " group_name"))

    assert validate(data).message == f"{INVALID_HEADERS}\n{NOT_A_CSV}"


def test_tab_separated_file_fails_twice():
    data = roster("G1\tS1\t2025\tMath\t1\t", header=HEADER.replace(",", "\t"))

    assert validate(data).message == f"{INVALID_HEADERS}\n{NOT_A_CSV}"


def test_duplicate_header_name_is_not_a_csv():
    header = HEADER.replace("group_user_login", "GROUP_NAME")

    assert validate(roster("G1,S1,2025,Math,1,", header=header)).message == NOT_A_CSV


def test_reordered_header_with_valid_records_reports_success_as_failure():
    header = "school_natural_id,group_name,school_year,subject_code,student_ssid,group_user_login"

    outcome = validate(roster("S1,G1,2025,Math,1,", header=header))

    assert not outcome.passed
    assert outcome.message == f"{INVALID_HEADERS}\nRow: 0 Failure: 1 group accepted for S1."


def test_short_header_with_correct_names_is_a_server_error():
    with pytest.raises(ServerFault):
        validate(roster("G1,S1", header="group_name,school_natural_id"))


def test_text_after_closing_quote_is_a_server_error():
    with pytest.raises(ServerFault):
        validate(roster('"G1"x,S1,2025,Math,1,'))


def test_short_row_discards_earlier_row_failures():
    data = roster("G1,S1,1999,Math,1,", "G1,S1,2025,Math")

    assert validate(data).message == NOT_A_CSV


# --- validation: rows ---------------------------------------------------------------------------


def test_missing_keys_repeat_for_every_row():
    data = roster(",S1,2025,Math,1,", "G1,,2025,Math,1,", ",S1,2025,Math,1,", "G1,S1,,Math,1,")

    assert validate(data).message == "\n".join(
        [
            "Row: 1 Failure: Record does not contain a group name",
            "Row: 2 Failure: Record does not contain a school",
            "Row: 3 Failure: Record does not contain a group name",
            "Row: 4 Failure: Record does not contain a school year",
        ]
    )


def test_school_year_must_be_a_bare_integer():
    assert validate(roster("G1,S1, 2025,Math,1,")).message == (
        "Row: 1 Failure: Record does not contain a school year"
    )


def test_invalid_year_and_subject_are_reported_once():
    data = roster(
        "G1,S1,1718,Science,1,",
        "G1,S1,1718,Science,2,",
        "G2,S1,2025,math,3,",
        "G3,S1,2025,ALL,4,",
    )

    assert validate(data).message == "\n".join(
        ["Row: 1 Failure: Invalid school year: 1718", "Row: 1 Failure: Invalid subject: Science"]
    )


def test_unknown_school_is_reported_once_and_its_rows_skipped():
    data = roster("G1,S1,2025,Math,1,", "G1,X9,1999,Bogus,2,", "G2,X9,1999,Bogus,3,")

    assert validate(data).message == "Row: 2 Failure: School [X9] can not be found"


def test_school_ids_are_not_trimmed():
    assert validate(roster("G1,S1 ,2025,Math,1,")).message == (
        "Row: 1 Failure: School [S1 ] can not be found"
    )


def test_school_out_of_order():
    data = roster("G1,S1,2025,Math,1,", "G1,S2,2025,Math,2,", "G2,S1,2025,Math,3,")

    assert validate(data).message == (
        "Row: 3 Failure: School [S1] is out-of-order: sort CSV by school, group, year"
    )


def test_schools_need_only_be_contiguous():
    data = roster("G1,S2,2025,Math,1,", "G1,S1,2025,Math,2,")

    assert validate(data).message == "1 group accepted for S2.\n1 group accepted for S1."


def test_record_out_of_order_is_reported_once():
    data = roster(
        "G1,S1,2025,Math,1,",
        "G2,S1,2025,Math,2,",
        "G1,S1,2025,Math,3,",
        "G2,S1,2025,Math,4,",
    )

    assert validate(data).message == (
        "Row: 3 Failure: Record is out-of-order: sort CSV by school, group, year"
    )


def test_group_names_differing_in_case_merge_when_adjacent():
    data = roster("GroupA,S1,2025,Math,1,", "groupa,S1,2025,Math,2,")

    assert validate(data).message == "1 group accepted for S1."


def test_completed_group_lookup_is_case_sensitive():
    data = roster("GroupA,S1,2025,Math,1,", "GroupB,S1,2025,Math,2,", "groupa,S1,2025,Math,3,")

    assert validate(data).message == "3 groups accepted for S1."


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (
            "Math",
            "ELA",
            "Row: 2 Failure: Record is attempting to re-define group subject from [Math] to [ELA]",
        ),
        (
            "All",
            "Math",
            "Row: 2 Failure: Record is attempting to re-define group subject from [All] to [Math]",
        ),
        ("Math", "", "1 group accepted for S1."),
        ("", "Math", "1 group accepted for S1."),
        ("Math", "MATH", "1 group accepted for S1."),
    ],
)
def test_subject_redefinition(first, second, message):
    data = roster(f"G1,S1,2025,{first},1,", f"G1,S1,2025,{second},2,")

    assert validate(data).message == message


def test_two_hundred_students_are_allowed():
    assert validate(roster(*students("S1", "G1", 200))).passed


def test_two_hundred_and_one_students_fail_on_the_groups_last_row():
    data = roster(*students("S1", "G1", 201), *students("S1", "G2", 1))

    assert validate(data).message == (
        "Row: 201 Failure: School [S1] Group [G1] contains 201 students.  "
        "Maximum students allowed per group is 200"
    )


def test_oversized_last_group_of_a_school_names_the_next_school():
    data = roster(*students("S1", "G1", 201), *students("S2", "G2", 1))

    assert validate(data).message == (
        "Row: 201 Failure: School [S2] Group [G1] contains 201 students.  "
        "Maximum students allowed per group is 200"
    )


def test_rows_without_a_student_do_not_count():
    data = roster(*students("S1", "G1", 200), "G1,S1,2025,Math,,teacher@example.org")

    assert validate(data).passed


def test_blank_lines_are_not_counted_as_rows():
    data = roster("G1,S1,2025,Math,1,", "", "", "G1,S1,1999,Math,2,")

    assert validate(data).message == "Row: 2 Failure: Invalid school year: 1999"


def test_failures_are_capped_at_one_hundred_lines():
    data = roster(*[",S1,2025,Math,1," for _ in range(150)])

    lines = validate(data).message.split("\n")

    assert len(lines) == 101
    assert lines[99] == "Row: 100 Failure: Record does not contain a group name"
    assert lines[100] == "With 50 additional validation failures"


def test_success_lines_are_capped_at_one_hundred_schools():
    schools = [f"S{n:03}" for n in range(101)]
    data = roster(*[f"G1,{school},2025,Math,1," for school in schools])

    lines = validate(data, schools=schools).message.split("\n")

    assert len(lines) == 101
    assert lines[0] == "1 group accepted for S000."
    assert lines[100] == "With 1 additional schools"


# --- HTTP ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def login():
    with moto_server():
        yield create_district_login()
    parameters.clear_caches()


@pytest.fixture
def token(login):
    credentials = CersCredentials(
        username=login["username"],
        password=login["password"],
        client_id=login["client_id"],
        region=login["region"],
    )
    return authenticate(credentials)


@pytest.fixture
def cers(login):
    with CersStandIn(login["jwks_url"], issuer=login["issuer"], schools=SCHOOLS) as standin:
        yield standin


# Seconds any call to the stand-in may take: a hung stand-in fails the test instead of hanging it.
TIMEOUT = 30


def post(url: str, timeout: float | tuple = TIMEOUT, **kwargs) -> requests.Response:
    return requests.post(url, timeout=timeout, **kwargs)


def get(url: str, timeout: float | tuple = TIMEOUT, **kwargs) -> requests.Response:
    return requests.get(url, timeout=timeout, **kwargs)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_token_gets_springs_unauthorized_body(cers):
    response = post(cers.endpoint, data=roster(), headers={"Content-Type": "text/csv"})

    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "error_description": "Full authentication is required to access this resource",
    }
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert cers.received[0].http_status == 401


def test_token_signed_by_another_key_is_invalid(cers, login):
    forged_key = RSAKey.generate_key(2048, parameters={"kid": "dummy"})
    claims = {
        "iss": login["issuer"],
        "token_use": "id",
        "cognito:username": login["username"],
        "exp": int(time.time()) + 600,
    }
    forged = jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, forged_key)

    response = get(f"{cers.base_url}/imports/user", headers=bearer(forged))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_expired_token_is_invalid(cers, login):
    resource = importlib.resources.files("moto.cognitoidp") / "resources/jwks-private.json.gz"
    moto_key = RSAKey.import_key(json.loads(gzip.decompress(resource.read_bytes())))
    claims = {
        "iss": login["issuer"],
        "token_use": "access",
        "username": login["username"],
        "exp": int(time.time()) - 60,
    }
    expired = jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, moto_key)

    response = get(f"{cers.base_url}/imports/user", headers=bearer(expired))

    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "Access token expired",
    }


def test_raw_body_upload_takes_batch_from_filename_parameter(cers, token):
    data = roster("G1,S1,2025,Math,1,")

    response = post(
        cers.endpoint,
        params={"filename": "raw.csv"},
        data=data,
        headers={**bearer(token), "Content-Type": "application/csv"},
    )

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "ACCEPTED"
    assert body["batch"] == "raw.csv"
    assert body["contentType"] == "application/csv"
    assert body["content"] == "GROUPS"
    assert body["digest"] == hashlib.md5(data, usedforsecurity=False).hexdigest().upper()
    assert body["_links"]["self"]["href"] == f"{cers.base_url}/imports/{body['id']}"
    assert cers.received[0].multipart is False


def test_raw_body_must_not_be_empty(cers, token):
    response = post(cers.endpoint, data=b"", headers={**bearer(token), "Content-Type": "text/csv"})

    assert response.status_code == 400
    assert response.content == b""


def test_multipart_without_a_file_part(cers, token):
    # A part without a filename is a form field, not a file.
    response = post(cers.endpoint, files={"note": (None, "no file")}, headers=bearer(token))

    assert response.status_code == 400
    assert response.text == "missing multipart file"


def test_file_part_without_content_type_is_a_server_error(cers, token):
    response = post(
        cers.endpoint,
        files={"file": ("a.csv", roster("G1,S1,2025,Math,1,"))},
        headers=bearer(token),
    )

    assert response.status_code == 500
    assert cers.imports == []


def test_short_header_is_a_server_error_without_import(cers, token):
    response = post(
        cers.endpoint,
        files={"file": ("short.csv", b"group_name,school_natural_id\r\nG1,S1\r\n", "text/csv")},
        headers=bearer(token),
    )

    assert response.status_code == 500
    assert response.json()["status"] == 500
    assert cers.imports == []
    assert cers.received[0].batch == "short.csv"


def test_query_needs_a_parameter(cers, token):
    response = get(cers.endpoint, headers=bearer(token))

    assert response.status_code == 400
    assert response.text == "at least one query parameter must be specified"


def test_query_rejects_unknown_status(cers, token):
    response = get(cers.endpoint, params={"status": "DONE"}, headers=bearer(token))

    assert response.status_code == 400


def test_query_filters_by_status_and_time(cers, token):
    for name in ("a.csv", "b.csv"):
        post(
            cers.endpoint,
            files={"file": (name, roster(f"{name},S1,2025,Math,1,"), "text/csv")},
            headers=bearer(token),
        )
    cers.process(1)

    def found(**params):
        response = get(cers.endpoint, params=params, headers=bearer(token))
        return [item["batch"] for item in response.json()]

    assert found(status="accepted") == ["b.csv"]
    assert found(status="1") == ["a.csv"]
    assert found(after="-PT1H") == ["a.csv", "b.csv"]
    assert found(after="-PT1H", limit="1") == ["a.csv"]
    assert found(before="-PT1H") == []
    assert found(creator="nobody@example.org") == []


def test_import_by_id_is_denied_to_a_groups_user(cers, token):
    response = get(f"{cers.base_url}/imports/1", headers=bearer(token))

    assert response.status_code == 403
    assert response.json() == {"error": "access_denied", "error_description": "Access is denied"}


def test_user_probe_lists_group_write(cers, token, login):
    response = get(f"{cers.base_url}/imports/user", headers=bearer(token))

    user = response.json()
    assert user["username"] == login["username"]
    assert {"authority": "PERM_GROUP_WRITE"} in user["authorities"]


def test_processing_delay_turns_accepted_into_processed(login, token):
    with CersStandIn(
        login["jwks_url"], issuer=login["issuer"], schools=SCHOOLS, processing_delay=0.05
    ) as cers:
        post(
            cers.endpoint,
            files={"file": ("a.csv", roster("G1,S1,2025,Math,1,"), "text/csv")},
            headers=bearer(token),
        )
        deadline = time.monotonic() + 5
        while cers.get_import(1).status == "ACCEPTED" and time.monotonic() < deadline:
            time.sleep(0.02)

        assert cers.get_import(1).status == "PROCESSED"


# --- fault switches -----------------------------------------------------------------------------


def post_roster(cers, token, **kwargs):
    return post(
        cers.endpoint,
        files={"file": ("a.csv", roster("G1,S1,2025,Math,1,"), "text/csv")},
        headers=bearer(token),
        **kwargs,
    )


def test_fault_error_answers_before_any_import_and_only_once(cers, token):
    cers.inject(Fault("error", status=503, retry_after=2))

    first, second = post_roster(cers, token), post_roster(cers, token)

    assert (first.status_code, first.headers["Retry-After"]) == (503, "2")
    assert second.status_code == 202
    assert [post.http_status for post in cers.received] == [503, 202]
    assert len(cers.imports) == 1


def test_fault_slow_answer_still_records_the_import(cers, token):
    cers.inject(Fault("slow", seconds=1.0))

    with pytest.raises(requests.exceptions.ReadTimeout):
        post_roster(cers, token, timeout=(2, 0.3))

    assert [record.status for record in cers.imports] == ["ACCEPTED"]


def test_fault_reset_drops_the_connection_after_recording(cers, token):
    cers.inject(Fault("reset", recorded=True))

    with pytest.raises(requests.exceptions.ConnectionError):
        post_roster(cers, token)

    assert [post.http_status for post in cers.received] == [0]
    assert len(cers.imports) == 1


def test_fault_hang_never_answers_and_records_nothing(cers, token):
    cers.inject(Fault("hang"))

    with pytest.raises(requests.exceptions.ReadTimeout):
        post_roster(cers, token, timeout=(2, 0.3))

    assert cers.imports == []
    assert [post.http_status for post in cers.received] == [0]


def test_fault_expired_token_on_a_query(cers, token):
    cers.inject(Fault("expired-token", method="GET"))

    response = get(f"{cers.base_url}/imports/user", headers=bearer(token))

    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "Access token expired",
    }
    assert get(f"{cers.base_url}/imports/user", headers=bearer(token)).ok


def test_fault_status_answers_202_with_that_import_status(cers, token):
    cers.inject(Fault("status", answer="UNAUTHORIZED"))

    response = post_roster(cers, token)

    assert (response.status_code, response.json()["status"]) == (202, "UNAUTHORIZED")


def test_only_the_configured_token_kinds_are_accepted(cers, token):
    cers.token_uses = frozenset({"access"})

    response = get(f"{cers.base_url}/imports/user", headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_processing_failure_turns_accepted_into_bad_data(cers, token):
    cers.processing_failure = "Data truncation: Data too long for column 'group_name'"
    post_roster(cers, token)

    record = cers.process(1)

    assert (record.status, record.message) == ("BAD_DATA", cers.processing_failure)
