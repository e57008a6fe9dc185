"""A local stand-in for the CERS student-group import service, on 127.0.0.1.

It follows the team's CERS contract document (cers-contract.md): the same CSV validation and
messages, the same duplicate rules keyed by the MD5 digest, the same endpoints and error bodies,
and bearer tokens checked against a Cognito user pool's JWKS (moto's, locally).

Use it as a context manager, or call ``start()`` and ``stop()``::

    with CersStandIn(login["jwks_url"], issuer=login["issuer"], schools={"S1"}) as cers:
        client = CersClient(cers.endpoint, token)
        ...
        assert len(cers.received) == 1

New valid imports stay ACCEPTED until ``process(import_id)`` is called, or until
``processing_delay`` seconds have passed when that is set (``processing_failure`` makes that
processing end in BAD_DATA instead). Everything is kept in memory.

Faults can be switched on for the next requests with ``inject(Fault(...), times=n)``: an HTTP
error status, a slow or hanging answer, a dropped connection, a 401 for an expired token, or a
202 whose import has an unexpected status. ``requests`` lists every request served, and
``uploads_at_once`` the most uploads each user had in progress at once.
"""

import contextlib
import csv
import hashlib
import io
import json
import re
import socket
import threading
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import requests
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Request, Response

from local_stack.loopback import LoopbackServer

HEADER = (
    "group_name",
    "school_natural_id",
    "school_year",
    "subject_code",
    "student_ssid",
    "group_user_login",
)
MAX_STUDENTS_PER_GROUP = 200
MAX_MESSAGE_LINES = 100

ACCEPTED = "ACCEPTED"
PROCESSED = "PROCESSED"
BAD_DATA = "BAD_DATA"
IMPORT_STATUSES = {
    -7: "PIPELINE_FAILURE",
    -6: "UNKNOWN_SCHOOL",
    -5: "UNKNOWN_ASMT",
    -4: "UNAUTHORIZED",
    -3: BAD_DATA,
    -2: "BAD_FORMAT",
    -1: "INVALID",
    0: ACCEPTED,
    1: PROCESSED,
    2: "NO_UPDATE",
}

INVALID_HEADERS = "Invalid headers. Headers must be in order: [" + ",".join(HEADER) + "]"
NOT_A_CSV = "File does not appear to be a valid CSV with a header row"
EMPTY_FILE = "Empty file"
NO_SCHOOL = "Record does not contain a school"
NO_GROUP = "Record does not contain a group name"
NO_YEAR = "Record does not contain a school year"
SORT_HINT = "sort CSV by school, group, year"
# The only failure texts reported again for every row instead of once per file.
REPEATED_FAILURES = frozenset({NO_SCHOOL, NO_GROUP, NO_YEAR})

_LOOKED_UP = HEADER[:5]  # the validator never reads group_user_login
_JAVA_INT = re.compile(r"[+-]?[0-9]+")
_INT_RANGE = range(-(2**31), 2**31)


# ---------------------------------------------------------------------------------------------
# Validation (contract sections 1 and 2)


class ServerFault(Exception):
    """Input that makes the real service fail with HTTP 500 and create no import record."""

    def __init__(self, exception: str, message: str) -> None:
        super().__init__(message)
        self.exception = exception


class _FileAborted(Exception):
    """A by-name field lookup failed: the whole file gets one row-0 failure."""


@dataclass
class Validation:
    """The outcome of validating one file: failures as (row, text), success lines per school."""

    failures: list[tuple[int, str]] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def message(self) -> str:
        if self.passed:
            return _capped(self.accepted, "With {} additional schools")

        lines = [f"Row: {row} Failure: {text}" for row, text in self.failures]
        return _capped(lines, "With {} additional validation failures")


def _capped(lines: list[str], overflow: str) -> str:
    if len(lines) <= MAX_MESSAGE_LINES:
        return "\n".join(lines)
    extra = len(lines) - MAX_MESSAGE_LINES
    return "\n".join([*lines[:MAX_MESSAGE_LINES], overflow.format(extra)])


@dataclass
class _Block:
    """One contiguous (school, group, year) run of rows."""

    key: tuple[str, str, int]
    group: str
    subject: str | None
    students: int = 0
    last_row: int = 0

    @property
    def folded_key(self) -> tuple[str, str, int]:
        school, group, year = self.key
        return school.lower(), group.lower(), year


class _RowChecks:
    """The single-pass checks over data records, keeping only what a streaming checker keeps."""

    def __init__(self, schools: Collection[str], years: Collection[int], subjects: set[str]):
        self._schools = schools
        self._years = years
        self._subjects = subjects
        self.failures: list[tuple[int, str]] = []
        self._texts: set[str] = set()
        self._groups_per_school: dict[str, int] = {}
        self._done_schools: set[str] = set()
        self._school: str | None = None
        self._skip_school = False
        self._block: _Block | None = None
        self._done_blocks: set[tuple[str, str, int]] = set()

    def fail(self, row: int, text: str) -> None:
        if text in REPEATED_FAILURES or text not in self._texts:
            self.failures.append((row, text))
            self._texts.add(text)

    def check(self, row: int, values: dict[str, str]) -> None:
        school, group = values["school_natural_id"], values["group_name"]
        year = _java_int(values["school_year"])
        subject = values["subject_code"].strip()

        missing = _missing_key(school, group, year)
        if missing:
            self.fail(row, missing)
            return

        if school != self._school:
            self._enter_school(row, school)
        if self._skip_school:
            return

        if year not in self._years:
            self.fail(row, f"Invalid school year: {year}")
        if subject and subject.lower() not in self._subjects:
            self.fail(row, f"Invalid subject: {subject}")
        self._track_block(row, (school, group, year), subject, values["student_ssid"])

    def finish(self) -> list[str]:
        """Close the last group; return the success line of every school, in file order."""
        if self._school is not None:
            self._close_block(self._school)
        return [
            f"{count} group{'' if count == 1 else 's'} accepted for {school}."
            for school, count in self._groups_per_school.items()
        ]

    def _enter_school(self, row: int, school: str) -> None:
        # The previous group is checked against the limit under the *new* school's name: the
        # quirk the contract describes for the last group of a school.
        self._close_block(school)
        if self._school is not None:
            self._done_schools.add(self._school)
        self._school = school
        self._done_blocks = set()

        if school in self._done_schools:
            self.fail(row, f"School [{school}] is out-of-order: {SORT_HINT}")
        self._skip_school = school not in self._schools
        if self._skip_school:
            self.fail(row, f"School [{school}] can not be found")
        else:
            self._groups_per_school.setdefault(school, 0)

    def _track_block(self, row: int, key: tuple[str, str, int], subject: str, ssid: str) -> None:
        block = self._block
        folded = (key[0].lower(), key[1].lower(), key[2])
        if block is None or block.folded_key != folded:
            self._close_block(key[0])
            if key in self._done_blocks:
                self.fail(row, f"Record is out-of-order: {SORT_HINT}")
            block = self._block = _Block(key=key, group=key[1], subject=subject or None)
            self._groups_per_school[key[0]] += 1
        elif subject and block.subject is None:
            block.subject = subject
        elif subject and block.subject.lower() != subject.lower():
            self.fail(
                row,
                f"Record is attempting to re-define group subject from [{block.subject}] "
                f"to [{subject}]",
            )

        block.last_row = row
        if ssid.strip():
            block.students += 1

    def _close_block(self, school_named: str) -> None:
        block, self._block = self._block, None
        if block is None:
            return
        self._done_blocks.add(block.key)
        if block.students > MAX_STUDENTS_PER_GROUP:
            self.fail(
                block.last_row,
                f"School [{school_named}] Group [{block.group}] contains {block.students} "
                f"students.  Maximum students allowed per group is {MAX_STUDENTS_PER_GROUP}",
            )


def _java_int(text: str) -> int | None:
    """``Integer.valueOf``: optional sign, ASCII digits, 32-bit; no spaces, no underscores."""
    if not _JAVA_INT.fullmatch(text):
        return None
    value = int(text)
    return value if value in _INT_RANGE else None


def _missing_key(school: str, group: str, year: int | None) -> str | None:
    if not school.strip():
        return NO_SCHOOL
    if not group.strip():
        return NO_GROUP
    if year is None:
        return NO_YEAR
    return None


class RosterValidator:
    """Validates a group CSV the way the import service does, including its quirks."""

    def __init__(
        self,
        schools: Collection[str],
        school_years: Collection[int],
        subjects: Iterable[str],
    ) -> None:
        self.schools = frozenset(schools)
        self.school_years = frozenset(school_years)
        self.subjects = {subject.lower() for subject in subjects} | {"all"}

    def validate(self, data: bytes) -> Validation:
        """Raises ``ServerFault`` where the real service would answer HTTP 500."""
        records = _records(data)
        header = next(records, None)
        if header is None:
            return Validation(failures=[(0, EMPTY_FILE)])

        try:
            columns = _columns(header)
        except _FileAborted:
            return Validation(failures=[(0, NOT_A_CSV)])

        header_failures = _header_failures(header)
        try:
            rows, checks = self._check_rows(records, columns)
        except _FileAborted:
            return Validation(failures=[*header_failures, (0, NOT_A_CSV)])

        if rows == 0:
            return Validation(failures=[*header_failures, (0, EMPTY_FILE)])
        return _outcome(header_failures, checks)

    def _check_rows(
        self, records: Iterator[list[str]], columns: dict[str, int]
    ) -> tuple[int, _RowChecks]:
        checks = _RowChecks(self.schools, self.school_years, self.subjects)
        rows = 0
        for record in records:
            rows += 1
            checks.check(rows, _lookup(record, columns))
        return rows, checks


def _outcome(header_failures: list[tuple[int, str]], checks: _RowChecks) -> Validation:
    accepted = checks.finish()
    if checks.failures:
        return Validation(failures=[*header_failures, *checks.failures])
    if header_failures:
        # Quirk: a bad header with valid records reports the success lines as failures too.
        return Validation(failures=[*header_failures, *((0, line) for line in accepted)])
    return Validation(accepted=accepted)


def _records(data: bytes) -> Iterator[list[str]]:
    """Non-blank CSV records; a UTF-8 BOM is dropped and malformed UTF-8 is replaced."""
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for record in reader:
            if record:
                yield record
    except csv.Error as exc:
        raise ServerFault(
            "java.lang.IllegalStateException",
            f"IOException reading next record: (line {reader.line_num}) {exc}",
        ) from exc


def _columns(header: list[str]) -> dict[str, int]:
    """Header name (any case) -> position; duplicate names are what the CSV parser rejects."""
    columns: dict[str, int] = {}
    for position, name in enumerate(header):
        if name.lower() in columns:
            raise _FileAborted
        columns[name.lower()] = position
    return columns


def _header_failures(header: list[str]) -> list[tuple[int, str]]:
    for position, required in enumerate(HEADER):
        if position >= len(header):
            # The order check runs off the end of a short header whose names were all right.
            raise ServerFault(
                "java.lang.IndexOutOfBoundsException",
                f"Index: {position}, Size: {len(header)}",
            )
        if header[position].lower() != required:
            return [(0, INVALID_HEADERS)]
    return []


def _lookup(record: list[str], columns: dict[str, int]) -> dict[str, str]:
    values = {}
    for name in _LOOKED_UP:
        position = columns.get(name)
        if position is None or position >= len(record):
            raise _FileAborted
        values[name] = record[position]
    return values


# ---------------------------------------------------------------------------------------------
# Imports and what was received


@dataclass
class ImportRecord:
    id: int
    digest: str
    status: str
    batch: str | None
    creator: str
    content_type: str
    created: datetime
    updated: datetime
    message: str | None

    def to_json(self, base_url: str) -> dict[str, Any]:
        self_url = f"{base_url}/imports/{self.id}"
        body = {
            "id": self.id,
            "content": "GROUPS",
            "contentType": self.content_type,
            "digest": self.digest,
            "status": self.status,
            "batch": self.batch,
            "creator": self.creator,
            "created": _iso(self.created),
            "updated": _iso(self.updated),
            "message": self.message,
            "_links": {
                "self": {"href": self_url},
                "payload": {"href": f"{self_url}/payload"},
                "payload-properties": {"href": f"{self_url}/payload/properties"},
            },
        }
        return {name: value for name, value in body.items() if value is not None}


@dataclass(frozen=True)
class ReceivedPost:
    """One POST to the imports endpoint, whatever came of it."""

    http_status: int
    bearer_user: str | None
    request_content_type: str | None
    content_length: int | None
    multipart: bool = False
    batch: str | None = None
    content_type: str | None = None
    size: int | None = None
    digest: str | None = None
    status: str | None = None
    import_id: int | None = None


FaultKind = Literal["error", "slow", "hang", "reset", "expired-token", "status", "held"]


@dataclass(frozen=True)
class Fault:
    """Something going wrong with one request, as ``CersStandIn.inject`` takes it.

    - ``error``: answer HTTP ``status`` (500 with Spring's body, 429/502/503/504 with a short
      text and ``Retry-After`` when ``retry_after`` is set) before reading anything; no import.
    - ``slow``: serve the request, then wait ``seconds`` before answering.
    - ``hang``: read the request and never answer (until ``seconds`` pass or the stand-in
      stops), then drop the connection; no import.
    - ``reset``: read the request, create the import only if ``recorded``, then drop the
      connection without an answer.
    - ``expired-token``: answer 401 ``invalid_token`` "Access token expired".
    - ``status``: create the import, then answer 202 with its status set to ``answer``.
    - ``held``: hold a POST unserved (no import yet) until ``release`` is set, then serve it.

    ``method`` picks the requests: ``POST`` (uploads) or ``GET`` (queries and the user probe).
    """

    kind: FaultKind
    method: str = "POST"
    status: int = 500
    seconds: float | None = None
    recorded: bool = True
    answer: str = "UNAUTHORIZED"
    retry_after: float | None = None
    release: threading.Event | None = None


@dataclass(frozen=True)
class ServedRequest:
    method: str
    path: str
    http_status: int  # 0 when the connection was dropped without an answer


class _Dropped(Exception):
    """The connection was closed without an answer."""


@dataclass(frozen=True)
class _Upload:
    batch: str | None
    content_type: str
    data: bytes
    multipart: bool


class _Reply(Exception):
    """Ends a request early with this response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


# ---------------------------------------------------------------------------------------------
# The HTTP service


class CersStandIn:
    """The CERS group import service, in a background thread on 127.0.0.1.

    Parameters
    ----------
    jwks_url, issuer:
        Where to fetch the user pool's signing keys, and the ``iss`` tokens must carry (not
        checked when None). ID and access tokens are both accepted.
    schools, school_years, subjects:
        The schools the login may write (anything else "can not be found"), the configured
        school years and the subject codes (compared case-insensitively; ``All`` always works).
    group_writers:
        Usernames holding PERM_GROUP_WRITE; None grants it to every signed-in user.
    processing_delay:
        Seconds after which an ACCEPTED import turns PROCESSED by itself; None leaves that to
        ``process()``.
    processing_failure:
        When set, processing ends in BAD_DATA with this text instead (the processor's failures
        carry no ``Row:`` prefix), after the upload was answered ACCEPTED.
    token_uses:
        Which Cognito tokens are accepted as the bearer (``id``, ``access``); others get 401.
    """

    def __init__(
        self,
        jwks_url: str,
        issuer: str | None = None,
        schools: Collection[str] = frozenset(),
        school_years: Collection[int] = range(2015, 2031),
        subjects: Iterable[str] = ("math", "ela"),
        *,
        group_writers: Collection[str] | None = None,
        processing_delay: float | None = None,
        processing_failure: str | None = None,
        token_uses: Collection[str] = ("id", "access"),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.validator = RosterValidator(schools, school_years, subjects)
        self._tokens = _TokenVerifier(jwks_url, issuer)
        self.token_uses = frozenset(token_uses)
        self.group_writers = None if group_writers is None else frozenset(group_writers)
        self.processing_delay = processing_delay
        self.processing_failure = processing_failure
        self._faults: list[Fault] = []
        self._served: list[ServedRequest] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._imports: dict[int, ImportRecord] = {}
        self._by_digest: dict[str, int] = {}
        self._received: list[ReceivedPost] = []
        self._timers: list[threading.Timer] = []
        self._posting: Counter[str] = Counter()  # POSTs being received, per user
        self._most_at_once: dict[str, int] = {}
        self._server = LoopbackServer(self._wsgi, "cers-standin", host, port)
        self.base_url = ""

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on a free port in a daemon thread; return the base URL."""
        self._stopping.clear()
        self.base_url = self._server.start()
        return self.base_url

    def stop(self) -> None:
        self._stopping.set()  # hanging requests end
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
        self._server.stop()

    def __enter__(self) -> "CersStandIn":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/groups/imports/"

    # -- what tests look at ---------------------------------------------------------------------

    @property
    def received(self) -> list[ReceivedPost]:
        """Every POST so far, oldest first (a copy)."""
        with self._lock:
            return list(self._received)

    @property
    def requests(self) -> list[ServedRequest]:
        """Every request served so far, oldest first (a copy)."""
        with self._lock:
            return list(self._served)

    @property
    def uploads_at_once(self) -> dict[str, int]:
        """Per user, the most uploads it had in progress at once: POSTs being received plus its
        imports still ACCEPTED (being processed), as counted when each POST began."""
        with self._lock:
            return dict(self._most_at_once)

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests of its method."""
        with self._lock:
            self._faults.extend([fault] * times)

    @property
    def imports(self) -> list[ImportRecord]:
        with self._lock:
            return [replace(record) for record in self._imports.values()]

    def get_import(self, import_id: int) -> ImportRecord:
        with self._lock:
            return replace(self._imports[import_id])

    def process(self, import_id: int, *, failure: str | None = None) -> ImportRecord:
        """Finish processing an ACCEPTED import: PROCESSED, or BAD_DATA with ``failure``
        (``processing_failure`` when not given).

        The processor's failures carry the raw exception text, without a ``Row:`` prefix.
        """
        failure = failure or self.processing_failure
        with self._lock:
            record = self._imports[import_id]
            if record.status == ACCEPTED:
                record.status = BAD_DATA if failure else PROCESSED
                if failure:
                    record.message = failure
                record.updated = _now()
            return replace(record)

    # -- HTTP -----------------------------------------------------------------------------------

    def _wsgi(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        fault = self._next_fault(request.method)
        try:
            response = self._dispatch(request, fault)
        except _Reply as reply:
            response = reply.response
        except _Dropped:
            self._served_one(request, 0)
            start_response("500 Internal Server Error", [])
            return []
        if fault is not None and fault.kind == "slow":
            self._stopping.wait(fault.seconds or 0)
        self._served_one(request, response.status_code)
        return response(environ, start_response)

    def _next_fault(self, method: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.method == method:
                    return self._faults.pop(index)
        return None

    def _served_one(self, request: Request, status: int) -> None:
        with self._lock:
            self._served.append(ServedRequest(request.method, request.path, status))

    def _fault_before(self, request: Request, fault: Fault | None) -> None:
        """The faults that strike before a request is served."""
        if fault is None:
            return
        if fault.kind == "error":
            raise _Reply(_error_response(fault))
        if fault.kind == "expired-token":
            raise _Reply(_invalid_token("Access token expired"))
        if fault.kind == "hang":
            request.stream.exhaust()
            self._stopping.wait(fault.seconds)
            _drop(request)

    def _dispatch(self, request: Request, fault: Fault | None = None) -> Response:
        path = request.path.rstrip("/") or "/"
        if request.method != "POST":
            self._fault_before(request, fault)
            if fault is not None and fault.kind == "reset":
                _drop(request)
        if path == "/groups/imports":
            return self._groups(request, fault)
        if path == "/imports/user" and request.method == "GET":
            user = self._user(request)
            return _json_response(_user_body(user, self._may_write(user)))
        if re.fullmatch(r"/imports/\d+(/payload(/properties)?)?", path):
            self._user(request)
            return _access_denied()
        return _spring_error(404, "Not Found", message="No message available", path=request.path)

    def _groups(self, request: Request, fault: Fault | None) -> Response:
        if request.method == "POST":
            return self._post(request, fault)
        if request.method != "GET":
            return _spring_error(405, "Method Not Allowed", message="Method not allowed")

        self._writer(request)
        return self._query(request)

    def _user(self, request: Request) -> str:
        user, token_use = self._tokens.user(request.headers.get("Authorization"))
        if token_use not in self.token_uses:
            raise _Reply(_invalid_token(f"Unsupported token type: {token_use}"))
        return user

    def _may_write(self, user: str) -> bool:
        return self.group_writers is None or user in self.group_writers

    def _writer(self, request: Request) -> str:
        user = self._user(request)
        if not self._may_write(user):
            raise _Reply(_access_denied())
        return user

    # -- POST /groups/imports -------------------------------------------------------------------

    def _post(self, request: Request, fault: Fault | None) -> Response:
        uploaders: list[str] = []
        try:
            return self._receive(request, fault, uploaders)
        finally:
            for user in uploaders:
                self._upload_ends(user)

    def _receive(self, request: Request, fault: Fault | None, uploaders: list[str]) -> Response:
        user = upload = None
        if fault is not None and fault.kind == "held":
            while not (fault.release.wait(0.05) or self._stopping.is_set()):
                pass
        if fault is not None and fault.kind == "hang":
            request.stream.exhaust()
            self._remember(request, 0, None)
            self._stopping.wait(fault.seconds)
            _drop(request)
        try:
            self._fault_before(request, fault)
            user = self._writer(request)
            self._upload_begins(user)
            uploaders.append(user)
            upload = _upload_from(request)
            if fault is not None and fault.kind == "reset" and not fault.recorded:
                _drop(request)
            validation = self.validator.validate(upload.data)
        except _Reply as reply:
            # Read what the client still sends, so it sees this answer rather than a reset.
            request.stream.exhaust()
            self._remember(request, reply.response.status_code, user, upload)
            raise
        except _Dropped:
            self._remember(request, 0, user, upload)
            raise
        except ServerFault as server_fault:
            self._remember(request, 500, user, upload)
            return _spring_error(
                500, "Internal Server Error", server_fault.exception, str(server_fault)
            )

        record = self._record(upload, user, validation, fault)
        if fault is not None and fault.kind == "reset":
            self._remember(request, 0, user, upload, record)
            _drop(request)
        self._remember(request, 202, user, upload, record)
        if record.status == ACCEPTED and self.processing_delay is not None:
            self._schedule(record.id)
        return _json_response(record.to_json(self.base_url), status=202)

    def _upload_begins(self, user: str) -> None:
        """Count the user's uploads in progress: POSTs being received and imports ACCEPTED."""
        with self._lock:
            self._posting[user] += 1
            accepted = sum(
                1
                for record in self._imports.values()
                if record.creator == user and record.status == ACCEPTED
            )
            at_once = self._posting[user] + accepted
            self._most_at_once[user] = max(self._most_at_once.get(user, 0), at_once)

    def _upload_ends(self, user: str) -> None:
        with self._lock:
            self._posting[user] -= 1

    def _record(
        self, upload: _Upload, user: str, validation: Validation, fault: Fault | None = None
    ) -> ImportRecord:
        """Create or update the import for this digest, following the duplicate rules."""
        digest = hashlib.md5(upload.data, usedforsecurity=False).hexdigest().upper()
        now = _now()
        status = ACCEPTED if validation.passed else BAD_DATA
        if fault is not None and fault.kind == "status":
            status = fault.answer
        with self._lock:
            existing = self._imports.get(self._by_digest.get(digest, -1))
            if existing is None:
                existing = ImportRecord(
                    id=len(self._imports) + 1,
                    digest=digest,
                    status=status,
                    batch=upload.batch,
                    creator=user,
                    content_type=upload.content_type,
                    created=now,
                    updated=now,
                    message=validation.message,
                )
                self._imports[existing.id] = existing
                self._by_digest[digest] = existing.id
            elif not (existing.status == PROCESSED and validation.passed):
                existing.status = status
                existing.message = validation.message
                existing.updated = now
            return replace(existing)

    def _remember(
        self,
        request: Request,
        http_status: int,
        user: str | None,
        upload: _Upload | None = None,
        record: ImportRecord | None = None,
    ) -> None:
        post = ReceivedPost(
            http_status=http_status,
            bearer_user=user,
            request_content_type=request.headers.get("Content-Type"),
            content_length=request.content_length,
        )
        if upload is not None:
            post = replace(
                post,
                multipart=upload.multipart,
                batch=upload.batch,
                content_type=upload.content_type,
                size=len(upload.data),
                digest=hashlib.md5(upload.data, usedforsecurity=False).hexdigest().upper(),
            )
        if record is not None:
            post = replace(post, status=record.status, import_id=record.id)
        with self._lock:
            self._received.append(post)

    def _schedule(self, import_id: int) -> None:
        timer = threading.Timer(self.processing_delay, self.process, args=(import_id,))
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()

    # -- GET /groups/imports --------------------------------------------------------------------

    def _query(self, request: Request) -> Response:
        wanted = _ImportQuery.parse(request.args)
        with self._lock:
            found = [replace(record) for record in self._imports.values() if wanted.matches(record)]
        found.sort(key=lambda record: record.id)
        if wanted.limit is not None:
            found = found[: wanted.limit]
        return _json_response([record.to_json(self.base_url) for record in found])


def _upload_from(request: Request) -> _Upload:
    """The file of a multipart or raw POST, or the response the service gives instead."""
    content_type = request.headers.get("Content-Type")
    if not content_type:
        raise _Reply(_null_pointer())
    if request.mimetype == "multipart/form-data":
        return _multipart_upload(request)
    if request.mimetype == "application/x-www-form-urlencoded":
        # The servlet layer would have eaten the body as form fields.
        raise _Reply(Response(b"", status=400))

    data = request.get_data()
    if not data:
        raise _Reply(Response(b"", status=400))
    batch = request.args.get("batch") or request.args.get("filename")
    return _Upload(batch=batch, content_type=content_type, data=data, multipart=False)


def _multipart_upload(request: Request) -> _Upload:
    part = _file_part(request)
    if part.content_type is None:
        raise _Reply(_null_pointer())
    return _Upload(
        batch=part.filename,
        content_type=part.content_type,
        data=part.read(),
        multipart=True,
    )


def _file_part(request: Request) -> FileStorage:
    parts = request.files
    if "file" in parts:
        return parts["file"]
    if len(parts) == 1:
        return next(iter(parts.values()))
    if not parts:
        raise _Reply(Response("missing multipart file", status=400, mimetype="text/plain"))
    raise _Reply(_null_pointer())


@dataclass(frozen=True)
class _ImportQuery:
    status: str | None
    batch: str | None
    creator: str | None
    after: datetime | None
    before: datetime | None
    limit: int | None

    @classmethod
    def parse(cls, args: Any) -> "_ImportQuery":
        names = ("status", "batch", "creator", "after", "before", "limit")
        if not any(name in args for name in names):
            raise _Reply(_bad_request("at least one query parameter must be specified"))
        return cls(
            status=_status_param(args.get("status")),
            batch=args.get("batch"),
            creator=args.get("creator"),
            after=_instant_param(args.get("after")),
            before=_instant_param(args.get("before")),
            limit=_limit_param(args.get("limit")),
        )

    def matches(self, record: ImportRecord) -> bool:
        return (
            (self.status is None or record.status == self.status)
            and (self.batch is None or record.batch == self.batch)
            and (self.creator is None or record.creator == self.creator)
            and (self.after is None or record.updated >= self.after)
            and (self.before is None or record.updated < self.before)
        )


def _status_param(value: str | None) -> str | None:
    if value is None:
        return None
    if re.fullmatch(r"-?\d+", value) and int(value) in IMPORT_STATUSES:
        return IMPORT_STATUSES[int(value)]
    if value.upper() in IMPORT_STATUSES.values():
        return value.upper()
    raise _Reply(_bad_request(f"No enum constant ImportStatus.{value}"))


_DURATION = re.compile(
    r"(?P<sign>[-+]?)P(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?",
    re.IGNORECASE,
)


def _instant_param(value: str | None) -> datetime | None:
    """An ISO instant, ``now``, or an ISO duration relative to now (``-PT1H``)."""
    if value is None:
        return None
    if value.lower() == "now":
        return _now()

    duration = _DURATION.fullmatch(value)
    if duration and any(duration[unit] for unit in ("days", "hours", "minutes", "seconds")):
        delta = timedelta(
            days=int(duration["days"] or 0),
            hours=int(duration["hours"] or 0),
            minutes=int(duration["minutes"] or 0),
            seconds=float(duration["seconds"] or 0),
        )
        return _now() - delta if duration["sign"] == "-" else _now() + delta

    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise _Reply(_bad_request(f"Text '{value}' could not be parsed")) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _limit_param(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise _Reply(_bad_request(f'For input string: "{value}"'))
    return int(value)


# ---------------------------------------------------------------------------------------------
# Bearer tokens


class _TokenVerifier:
    """Checks Cognito JWTs against the pool's JWKS; returns the username they carry."""

    def __init__(self, jwks_url: str, issuer: str | None) -> None:
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    def user(self, authorization: str | None) -> tuple[str, str]:
        """The username the token carries, and its kind (``id`` or ``access``)."""
        if not authorization or not authorization.startswith("Bearer "):
            raise _Reply(_unauthorized())

        claims = self._verified_claims(authorization.removeprefix("Bearer ").strip())
        username = claims.get("cognito:username") or claims.get("username")
        if claims.get("token_use") not in ("id", "access") or not username:
            raise _Reply(_invalid_token("Cannot convert access token to JSON"))
        return username, claims["token_use"]

    def _verified_claims(self, token: str) -> dict[str, Any]:
        options = {"exp": {"essential": True}}
        if self._issuer:
            options["iss"] = {"essential": True, "value": self._issuer}
        try:
            claims = jwt.decode(token, self._key_set(), algorithms=["RS256"]).claims
            jwt.JWTClaimsRegistry(**options).validate(claims)
        except ExpiredTokenError:
            raise _Reply(_invalid_token("Access token expired")) from None
        except (JoseError, ValueError, TypeError):
            raise _Reply(_invalid_token("Cannot convert access token to JSON")) from None
        return claims

    def _key_set(self) -> KeySet:
        with self._lock:
            if self._keys is None:
                response = requests.get(self._jwks_url, timeout=5)
                response.raise_for_status()
                self._keys = KeySet.import_key_set(response.json())
            return self._keys


# ---------------------------------------------------------------------------------------------
# Response bodies


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _bad_request(text: str) -> Response:
    return Response(text, status=400, mimetype="text/plain")


def _unauthorized() -> Response:
    body = {
        "error": "unauthorized",
        "error_description": "Full authentication is required to access this resource",
    }
    response = _json_response(body, status=401)
    response.headers["WWW-Authenticate"] = (
        f'Bearer realm="oauth2-resource", error="unauthorized", '
        f'error_description="{body["error_description"]}"'
    )
    return response


def _invalid_token(description: str) -> Response:
    response = _json_response({"error": "invalid_token", "error_description": description}, 401)
    response.headers["WWW-Authenticate"] = (
        f'Bearer error="invalid_token", error_description="{description}"'
    )
    return response


def _access_denied() -> Response:
    return _json_response(
        {"error": "access_denied", "error_description": "Access is denied"}, status=403
    )


def _spring_error(
    status: int,
    error: str,
    exception: str | None = None,
    message: str = "",
    path: str = "/groups/imports",
) -> Response:
    """Spring Boot's default error JSON."""
    body = {
        "timestamp": int(_now().timestamp() * 1000),
        "status": status,
        "error": error,
        "exception": exception,
        "message": message,
        "path": path,
    }
    return _json_response({name: value for name, value in body.items() if value}, status)


def _error_response(fault: Fault) -> Response:
    if fault.status == 500:
        return _spring_error(500, "Internal Server Error", "java.lang.RuntimeException", "boom")
    response = Response(f"HTTP {fault.status}", status=fault.status, mimetype="text/plain")
    if fault.retry_after is not None:
        response.headers["Retry-After"] = f"{fault.retry_after:g}"
    return response


def _drop(request: Request) -> None:
    """Close the connection without an answer, as a crashed server or a proxy would."""
    connection = request.environ.get("werkzeug.socket")
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    raise _Dropped


def _null_pointer() -> Response:
    return _spring_error(500, "Internal Server Error", "java.lang.NullPointerException")


def _user_body(username: str, may_write: bool) -> dict[str, Any]:
    authorities = ["ROLE_GROUP_ADMIN", "PERM_GROUP_WRITE"] if may_write else ["ROLE_GROUP_ADMIN"]
    scope = {
        "statewide": False,
        "districtGroupIds": [],
        "districtIds": [],
        "institutionGroupIds": [],
        "institutionIds": [],
    }
    return {
        "username": username,
        "password": "N/A",
        "authorities": [{"authority": name} for name in authorities],
        "accountNonExpired": True,
        "accountNonLocked": True,
        "credentialsNonExpired": True,
        "enabled": True,
        "uid": username,
        "sbacUuid": username,
        "tenantId": "CA",
        "tenancyChain": {"grants": []},
        "permissions": [{"id": "GROUP_WRITE", "scope": scope}] if may_write else [],
    }


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")
