"""Sending a validated roster to CERS: at most once, in order, and never without an outcome.

CERS replaces each group's members with what a file says, skips bytes it already processed, and
answers 202 even when it rejects a file. So before anything is sent:

- a file whose exact bytes this district already got PROCESSED is recorded as DUPLICATE, unless
  an operator forces a re-send;
- an older version of a file is not sent once a newer version of the same key is on its way
  (SUPERSEDED; S3 may notify out of order);
- a file waits (WAITING) while the district's previous upload is still ACCEPTED or unconfirmed
  at CERS; the poller releases it, oldest first;
- the submission moves VALIDATED -> UPLOADING in one conditional write, so only one run sends it.

Each submission is sent under a batch name of its own, ``<submission id>-<file name>``, so it can
be found at CERS again. When the answer is lost (read timeout, reset, gateway timeout, a crash
after the POST), the import is looked up by that batch instead of sending again; if CERS does not
show it yet, the submission is UNCONFIRMED and the poller keeps looking. Only an answer that
proves CERS kept nothing (429, or a 5xx with no import under the batch) leads to another POST.
"""

import hashlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from cers_groups import cognito, ordering, storage
from cers_groups.cers import CersClient, CersError, ImportResource, retry_wait
from cers_groups.errors import ConfigurationError
from cers_groups.events import file_name
from cers_groups.observability import logger, metrics
from cers_groups.outcomes import MAX_ATTEMPTS, alert_if_needed, fail
from cers_groups.resources import FILES_PROCESSED, UPLOAD_SECONDS
from cers_groups.session import CersSession
from cers_groups.settings import Settings
from cers_groups.submissions import Status, SubmissionStore, now
from cers_groups.tenants import District
from cers_groups.tokens import TokenCache

# The batch column at CERS is varchar(250).
BATCH_LIMIT = 250
# POSTs of one file in one run when CERS answers 429 or 5xx and holds no import for it.
POST_ATTEMPTS = 3
# Sign-in problems that pass: the message goes back on the queue.
RETRYABLE_AUTH = frozenset({"throttled", "unreachable"})
# Imports updated this long before the POST still count when searching by digest.
LOOKUP_SLACK = timedelta(minutes=2)
GROUP_WRITE = "PERM_GROUP_WRITE"
# A district's files dropped earlier than the one to send, and not sent yet, hold it back.
_NOT_SENT_YET = frozenset({Status.RECEIVED, Status.VALIDATED, Status.WAITING})
# The pending statuses that can hold a district's upload back.
HOLDING = (Status.WAITING, Status.ACCEPTED, Status.UNCONFIRMED)
# Longest pause between two looks at a just-accepted import.
FOLLOW_INTERVAL_CAP = 10.0

CERS_STATUSES = {
    "ACCEPTED": Status.ACCEPTED,
    "PROCESSED": Status.PROCESSED,
    "BAD_DATA": Status.BAD_DATA,
}
# S3 errors that mean the object version to send is gone.
_GONE = frozenset({"NoSuchKey", "NoSuchVersion", "404"})


class RetryLater(Exception):
    """A passing failure: the message goes back on the queue and is tried again."""


def upload_submission(
    submission_id: str, settings: Settings, attempt: int, *, force: bool = False
) -> Status | None:
    """Take one submission from the upload queue as far as it can go now.

    ``force`` skips the duplicate check (an operator asked for a re-send).
    """
    store = SubmissionStore(settings.submissions_table)
    logger.set_correlation_id(submission_id)
    logger.append_keys(submission_id=submission_id)
    submission = store.get(submission_id)
    if submission is None:
        logger.error("Upload requested for an unknown submission")
        return None

    district = settings.tenants.district(submission["district"])
    status = submission["status"]
    if status == Status.UPLOADING:
        # An earlier run claimed the file and never recorded an answer: never POST again.
        _settle(submission, session_for(district, settings), store, "an earlier run stopped")
    elif status == Status.VALIDATED and district is None:
        fail(
            store,
            submission_id,
            Status.VALIDATED,
            Status.UPLOAD_FAILED,
            "The submission's district is no longer in the tenants file; nothing was sent.",
            reason="district-removed",
        )
    elif status == Status.VALIDATED:
        _upload(submission, district, store, settings, attempt, force or submission.get("force"))
    else:
        logger.info("Upload step has nothing to do", status=status)

    alert_if_needed(store, submission_id, settings)
    return Status((store.get(submission_id) or submission)["status"])


def interrupted(store: SubmissionStore, submission_id: str, error: Exception) -> None:
    """The last run died while the file was UPLOADING: leave it to the poller to find."""
    store.advance(
        submission_id,
        Status.UPLOADING,
        Status.UNCONFIRMED,
        note=(
            f"The upload stopped ({type(error).__name__}) after it may have reached CERS; the"
            " poller looks the import up by batch."
        ),
    )


def batch_name(submission: dict[str, Any]) -> str:
    """The unique name CERS records as the import's batch (the multipart file name)."""
    name = submission.get("upload_name") or file_name(submission["key"])
    return f"{submission['submission_id']}-{name}"[:BATCH_LIMIT]


# --- before sending ------------------------------------------------------------------------


def _upload(submission, district: District, store, settings: Settings, attempt: int, force):
    submission_id = submission["submission_id"]
    if not force and ordering.record_if_superseded(submission, store):
        return
    if not force and _record_duplicate(submission, store):
        return
    if _hold(submission, store, settings, force):
        return

    session = session_for(district, settings)
    if not _may_send(submission_id, session, store, attempt):
        return

    try:
        roster = _open(submission)
    except _FileGone as gone:
        fail(store, submission_id, Status.VALIDATED, Status.UPLOAD_FAILED, str(gone), reason="gone")
        return

    batch = batch_name(submission)
    claimed = store.advance(
        submission_id,
        Status.VALIDATED,
        Status.UPLOADING,
        batch=batch,
        sent_at=now(),
        **({"forced": True} if force else {}),
    )
    if not claimed:
        roster.body.close()
        logger.info("Upload already taken by another run")
        return
    posting: list[bool] = []
    try:
        _send(store.get(submission_id), roster, session, store, settings, attempt, posting)
    except Exception as error:
        if not posting:
            _unclaim_unsent(store, submission_id, error)
        raise


def _unclaim_unsent(store, submission_id: str, error: Exception) -> None:
    """The run failed after claiming the file but before a byte went to CERS (a throttled read
    of the tokens, say): back to VALIDATED, so the next delivery sends it instead of taking it
    for an upload whose answer was lost."""
    try:
        store.advance(
            submission_id,
            Status.UPLOADING,
            Status.VALIDATED,
            note=f"Stopped before sending ({type(error).__name__}); nothing reached CERS.",
        )
    except Exception:  # noqa: BLE001 - the error being raised matters more; UPLOADING is settled
        logger.exception("Could not hand the unsent upload back")


def _record_duplicate(submission: dict[str, Any], store: SubmissionStore) -> bool:
    """True when these bytes already reached PROCESSED for the district (and so recorded)."""
    digest = submission.get("digest")
    if not digest:
        return False
    earlier = [
        item
        for item in store.same_bytes(submission["district"], digest)
        if item["status"] == Status.PROCESSED
        and item["submission_id"] != submission["submission_id"]
    ]
    if not earlier:
        return False

    processed = earlier[-1]
    store.advance(
        submission["submission_id"],
        Status.VALIDATED,
        Status.DUPLICATE,
        duplicate_of=processed["submission_id"],
        cers_import_id=processed.get("cers_import_id"),
        note=(
            f"CERS already processed these exact bytes as import {processed.get('cers_import_id')}"
            f" (submission {processed['submission_id']}); nothing was sent."
        ),
    )
    logger.info("Roster is a duplicate", duplicate_of=processed["submission_id"])
    metrics.add_metric(name="FilesDuplicate", unit=MetricUnit.Count, value=1)
    return True


def _hold(submission: dict[str, Any], store: SubmissionStore, settings: Settings, force) -> bool:
    """True when an earlier upload of the district must finish first (and so WAITING); a
    forced re-send keeps its ``force`` for when it is released."""
    blocking = blockers(store, submission["district"], settings, before=submission)
    if not blocking:
        return False

    first = blocking[0]
    store.advance(
        submission["submission_id"],
        Status.VALIDATED,
        Status.WAITING,
        waiting_for=first["submission_id"],
        **({"force": True} if force else {}),
    )
    logger.info("Upload waits for an earlier one", waiting_for=first["submission_id"])
    return True


def blockers(
    store: SubmissionStore,
    district: str,
    settings: Settings,
    before: dict | None = None,
    *,
    pending: Mapping[Status, list[dict[str, Any]]] | None = None,
    recent: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The district's uploads that hold back its next one, in drop order: being sent, ACCEPTED
    or unconfirmed at CERS, and not past the deadline; with ``before``, also the files dropped
    before it that have not been sent yet (being validated, queued, or WAITING).

    The upload queue holds a district's files in the order they were validated, and several
    validators run at once, so a later file can reach the uploader first: it waits then.
    ``pending`` (the ``HOLDING`` statuses' submissions) and ``recent`` (the district's latest)
    may be passed when already read; otherwise they are read now.
    """
    deadline = _ago(settings.deadline)
    if pending is None:
        pending = {status: store.pending(status, district) for status in HOLDING}
    if recent is None:
        recent = store.recent(district, since=deadline)
    recent = [item for item in recent if item["created_at"] >= deadline]
    found = [
        item
        for status in (Status.ACCEPTED, Status.UNCONFIRMED)
        for item in pending[status]
        if item["district"] == district and item.get("sent_at", item["updated_at"]) >= deadline
    ]
    found += [item for item in recent if item["status"] == Status.UPLOADING]
    if before is not None:
        fresh = {item["submission_id"] for item in recent}
        waiting = [item for item in pending[Status.WAITING] if item["submission_id"] not in fresh]
        found += [
            item
            for item in [*waiting, *recent]
            if item["district"] == district
            and item["status"] in _NOT_SENT_YET
            and drop_order(item) < drop_order(before)
        ]
        found = [item for item in found if item["submission_id"] != before["submission_id"]]
    unique = {item["submission_id"]: item for item in found}
    return sorted(unique.values(), key=drop_order)


def drop_order(item: dict[str, Any]) -> tuple[str, str, str]:
    """Where a submission stands in its district's order: when its object landed in the bucket
    (the S3 event's time), then when it was recorded (parts of a split file, in turn)."""
    created = item["created_at"]
    return item.get("dropped_at") or created, created, item["submission_id"]


def _may_send(submission_id: str, session: CersSession, store, attempt: int) -> bool:
    """Sign in and ask CERS who we are; False when the submission was recorded as failed."""
    try:
        user = session.call(lambda client: client.current_user())
    except ConfigurationError as error:
        fail(
            store, submission_id, Status.VALIDATED, Status.AUTH_FAILED, str(error), reason="secret"
        )
        return False
    except cognito.AuthenticationError as error:
        _sign_in_failed(store, submission_id, error, attempt)
        return False
    except CersError as error:
        _probe_failed(store, submission_id, error, attempt)
        return False

    if not has_group_write(user):
        fail(
            store,
            submission_id,
            Status.VALIDATED,
            Status.PERMISSION_DENIED,
            f"CERS signed in the login in secret {session.district.secret_name} but lists no "
            f"group-write permission ({GROUP_WRITE}) for it; nothing was sent.",
            reason="no-group-write",
        )
        return False
    return True


def has_group_write(user: dict[str, Any]) -> bool:
    """Whether CERS's ``/imports/user`` answer grants writing groups.

    An answer listing neither authorities nor permissions says nothing either way: the upload
    goes ahead, and a 403 would then tell.
    """
    if "authorities" not in user and "permissions" not in user:
        return True
    authorities = {
        entry.get("authority") if isinstance(entry, dict) else entry
        for entry in user.get("authorities") or []
    }
    permissions = {
        entry.get("id") for entry in user.get("permissions") or [] if isinstance(entry, dict)
    }
    return GROUP_WRITE in authorities or "GROUP_WRITE" in permissions


def _sign_in_failed(store, submission_id: str, error, attempt: int) -> None:
    if error.reason in RETRYABLE_AUTH and attempt < MAX_ATTEMPTS:
        raise RetryLater(f"CERS sign-in: {error.reason}") from error
    if error.reason in RETRYABLE_AUTH:
        fail(
            store,
            submission_id,
            Status.VALIDATED,
            Status.UPLOAD_FAILED,
            f"{error} Tried {attempt} times; nothing was sent. The next file dropped will try"
            " again.",
            reason=error.reason,
        )
        return
    fail(
        store, submission_id, Status.VALIDATED, Status.AUTH_FAILED, str(error), reason=error.reason
    )


def _probe_failed(store, submission_id: str, error: CersError, attempt: int) -> None:
    if error.reason == "forbidden":
        fail(
            store,
            submission_id,
            Status.VALIDATED,
            Status.PERMISSION_DENIED,
            f"{error} Nothing was sent.",
            reason="forbidden",
        )
    elif error.reason == "unauthorized":
        fail(
            store,
            submission_id,
            Status.VALIDATED,
            Status.AUTH_FAILED,
            f"{error} Both the ID and the access token were refused, also after a fresh"
            " sign-in. Nothing was sent.",
            reason="token-refused",
        )
    elif attempt < MAX_ATTEMPTS:
        raise RetryLater(f"CERS before sending: {error.reason}") from error
    else:
        fail(
            store,
            submission_id,
            Status.VALIDATED,
            Status.UPLOAD_FAILED,
            f"{error} Tried {attempt} times; nothing was sent.",
            reason=error.reason,
        )


class _FileGone(Exception):
    pass


def _open(submission: dict[str, Any]) -> storage.RosterObject:
    """The exact object version that was validated (the normalized one when there is one)."""
    normalized = "upload_key" in submission
    key = submission["upload_key"] if normalized else submission["key"]
    version = submission.get("upload_version_id" if normalized else "version_id")
    try:
        return storage.open_roster(submission["bucket"], key, version)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in _GONE:
            raise
        raise _FileGone(
            f"The file s3://{submission['bucket']}/{key} (the version that was validated) was "
            "deleted from the bucket before it could be sent; nothing was sent to CERS. Drop "
            "the file again if it should still go to CERS."
        ) from None


# --- sending -------------------------------------------------------------------------------


def _send(
    submission,
    roster,
    session: CersSession,
    store,
    settings: Settings,
    attempt: int,
    posting: list[bool],
):
    """POST the file (again only when CERS surely kept nothing) and record the answer.

    ``posting`` gets an entry as a POST begins: from then on CERS may hold the file.
    """
    submission_id = submission["submission_id"]
    batch = submission["batch"]
    opened = [roster]
    digests: list[str] = []

    def post(client: CersClient) -> ImportResource:
        current = opened.pop() if opened else _open(submission)
        reader = _HashingReader(current.body)
        posting.append(True)
        started = time.monotonic()
        with current.body:
            answer = client.submit_roster(batch, reader, current.size)
        seconds = time.monotonic() - started
        metrics.add_metric(name=UPLOAD_SECONDS, unit=MetricUnit.Seconds, value=seconds)
        digests.append(reader.hexdigest())
        return answer

    for number in range(1, POST_ATTEMPTS + 1):
        try:
            answer = session.call(post, read_timeout=settings.read_timeout)
        except CersError as error:
            if not _may_post_again(submission, session, store, settings, error, number, attempt):
                return
            time.sleep(retry_wait(settings.retry_delay, number - 1, error.retry_after))
            continue
        except (cognito.AuthenticationError, ConfigurationError) as error:
            # Only a renewal after a 401 gets here; CERS refused the request unread.
            fail(store, submission_id, Status.UPLOADING, Status.AUTH_FAILED, str(error))
            return
        except _FileGone as gone:
            fail(store, submission_id, Status.UPLOADING, Status.UPLOAD_FAILED, str(gone))
            return

        if digests and digests[-1] != submission.get("digest"):
            logger.warning("Bytes sent differ from the validated digest", sent=digests[-1])
        if _record_sent(submission, answer, store) == Status.ACCEPTED:
            _follow_briefly(submission_id, answer, session, store, settings)
        return


def _record_sent(submission, answer: ImportResource, store) -> Status | None:
    """Record the POST's answer. A delivery of the same message that overlapped this run (its
    visibility timeout ran out) may have found no import yet and left the file UNCONFIRMED
    meanwhile; the answer in hand is recorded from there rather than left to the poller."""
    recorded = record_answer(submission, answer, store, Status.UPLOADING)
    if recorded is not None:
        return recorded
    current = store.get(submission["submission_id"]) or {}
    if current.get("status") != Status.UNCONFIRMED:
        return None
    logger.info("An overlapping run left the upload unconfirmed; recording the answer")
    return record_answer(current, answer, store, Status.UNCONFIRMED)


def _follow_briefly(submission_id, answer: ImportResource, session, store, settings) -> None:
    """Watch a just-accepted import for ``settings.follow`` seconds: small files finish in
    seconds, and then the district's next file need not wait for the poller."""
    started = time.monotonic()
    for attempt in range(100):
        wait = min(retry_wait(settings.retry_delay, attempt), FOLLOW_INTERVAL_CAP)
        if time.monotonic() - started + wait > settings.follow:
            return
        time.sleep(wait)
        try:
            found = session.call(lambda client: client.find_imports(batch=answer.batch))
        except (CersError, cognito.AuthenticationError, ConfigurationError):
            return  # the poller follows it
        finished = [item for item in found if item.id == answer.id and item.status != "ACCEPTED"]
        if finished:
            record_answer(store.get(submission_id), finished[0], store, Status.ACCEPTED)
            return


def _may_post_again(submission, session, store, settings, error: CersError, number, attempt):
    """Record what a failed POST means; True only when CERS surely kept nothing of it."""
    submission_id = submission["submission_id"]
    if error.reason == "outcome-unknown" or _unreadable_answer(error):
        _settle(submission, session, store, str(error))
        return False
    if error.reason == "unreachable":
        # Not one byte left: the file goes back to VALIDATED and the queue brings it again.
        _unclaim_or_fail(submission_id, store, error, attempt)
        return False
    if error.reason == "forbidden":
        fail(
            store,
            submission_id,
            Status.UPLOADING,
            Status.PERMISSION_DENIED,
            f"{error} CERS did not take the file.",
            reason="forbidden",
        )
        return False
    if error.reason not in ("throttled", "server-error"):
        fail(
            store,
            submission_id,
            Status.UPLOADING,
            Status.UPLOAD_FAILED,
            str(error),
            reason=error.reason,
        )
        return False
    return _retry_or_fail(submission, session, store, error, number)


def _unreadable_answer(error: CersError) -> bool:
    """A success status (or none) with a body that is not an import: CERS may hold the file."""
    return error.reason == "unexpected-response" and error.status in (None, 200, 201, 202)


def _retry_or_fail(submission, session, store, error: CersError, number: int) -> bool:
    """After a 429 or 5xx: find the import if CERS kept one, else send again or give up."""
    submission_id = submission["submission_id"]
    if error.reason == "server-error":
        try:
            found = find_import(session, submission)
        except (CersError, cognito.AuthenticationError, ConfigurationError):
            _to_unconfirmed(
                submission_id,
                store,
                Status.UPLOADING,
                f"{error} It could not be looked up afterwards.",
            )
            return False
        if found is not None:
            record_answer(submission, found, store, Status.UPLOADING)
            return False
    if number < POST_ATTEMPTS:
        logger.warning("CERS refused the upload; sending again", status=error.status, post=number)
        return True

    if error.reason == "throttled":
        failure = (
            f"CERS answered HTTP 429 (too many requests) to each of {POST_ATTEMPTS} tries, so "
            "it did not take the file."
        )
    else:
        failure = (
            f"CERS answered HTTP {error.status} (an error on its side) to each of "
            f"{POST_ATTEMPTS} tries, and holds no import under batch {submission['batch']}, so"
            " nothing was applied."
        )
    fail(store, submission_id, Status.UPLOADING, Status.UPLOAD_FAILED, failure, reason=error.reason)
    return False


def _unclaim_or_fail(submission_id: str, store, error: CersError, attempt: int) -> None:
    if attempt < MAX_ATTEMPTS:
        store.advance(submission_id, Status.UPLOADING, Status.VALIDATED, note=str(error))
        raise RetryLater("CERS unreachable") from error
    fail(
        store,
        submission_id,
        Status.UPLOADING,
        Status.UPLOAD_FAILED,
        f"{error} Tried {attempt} times.",
        reason="unreachable",
    )


# --- finding out what CERS did -------------------------------------------------------------


def _settle(submission, session: CersSession | None, store, what_happened: str) -> None:
    """The POST's answer was lost: record the import CERS holds, or leave it UNCONFIRMED."""
    found = None
    if session is not None:
        try:
            found = find_import(session, submission)
        except (CersError, cognito.AuthenticationError, ConfigurationError) as error:
            logger.warning("Import lookup failed", reason=getattr(error, "reason", None))
    if found is not None:
        record_answer(submission, found, store, Status.UPLOADING)
        return
    _to_unconfirmed(submission["submission_id"], store, Status.UPLOADING, what_happened)


def _to_unconfirmed(submission_id: str, store, expected: Status, what_happened: str) -> None:
    store.advance(
        submission_id,
        expected,
        Status.UNCONFIRMED,
        note=(
            f"CERS's answer to the upload was lost ({what_happened}) and CERS shows no import "
            "for it yet; the poller keeps looking it up by batch."
        ),
    )
    logger.warning("Upload unconfirmed", detail=what_happened)


def find_import(session: CersSession, submission: dict[str, Any]) -> ImportResource | None:
    """The import CERS holds for this submission: by its batch, else by its digest among the
    imports updated since it was sent (CERS keeps the first batch name of identical bytes).

    Raises CersError (and sign-in errors) when CERS could not be asked.
    """
    batch = submission.get("batch") or batch_name(submission)
    found = session.call(lambda client: client.find_imports(batch=batch))
    if found:
        return max(found, key=lambda item: item.id)

    sent_at = submission.get("sent_at")
    digest = submission.get("digest")
    if not sent_at or not digest:
        return None
    since = datetime.fromisoformat(sent_at.replace("Z", "+00:00")) - LOOKUP_SLACK
    after = since.isoformat().replace("+00:00", "Z")
    recent = session.call(lambda client: client.find_imports(after=after))
    same = [item for item in recent if (item.digest or "").upper() == digest]
    return max(same, key=lambda item: item.id) if same else None


def record_answer(
    submission, answer: ImportResource, store, expected: Status, clear: tuple[str, ...] = ()
) -> Status | None:
    """Record what CERS holds for the submission: its import and what the status means.

    ``clear`` names attributes to drop in the same write (a STUCK submission's alert claim,
    so that a later rejection alerts too).
    """
    fields = _import_fields(answer)
    own_batch = submission.get("batch") or batch_name(submission)
    older = answer.batch is not None and answer.batch != own_batch
    status = CERS_STATUSES.get(answer.status)
    if status is None:
        fail(
            store,
            submission["submission_id"],
            expected,
            Status.OUTCOME_UNKNOWN,
            f"CERS received the file as import {answer.id} but reports its status as "
            f"'{answer.status}', which group imports never have, so whether it was applied is "
            "unknown. Look at that import in CERS.",
            reason="unexpected-status",
            clear=clear,
            **fields,
        )
        return Status.OUTCOME_UNKNOWN
    if older:
        status, fields["note"] = _older_import(answer, status)

    if status == Status(submission["status"]):
        return None  # nothing new (still ACCEPTED)
    if not store.advance(submission["submission_id"], expected, status, clear=clear, **fields):
        return None
    logger.info("CERS import recorded", cers_import_id=answer.id, cers_status=answer.status)
    if expected == Status.UPLOADING:
        metrics.add_metric(name="FilesUploaded", unit=MetricUnit.Count, value=1)
    if status == Status.PROCESSED:
        metrics.add_metric(name=FILES_PROCESSED, unit=MetricUnit.Count, value=1)
    return status


def _older_import(answer: ImportResource, status: Status) -> tuple[Status, str]:
    """CERS matched the bytes to an import created earlier (another batch)."""
    if status == Status.PROCESSED:
        return Status.DUPLICATE, (
            f"CERS had already processed identical bytes as import {answer.id} (batch "
            f"{answer.batch}) and did not process them again; nothing changed."
        )
    action = "queued it again" if status == Status.ACCEPTED else "validated it again"
    return status, (
        f"CERS matched the bytes to its earlier import {answer.id} (batch {answer.batch}) and "
        f"{action}."
    )


def _import_fields(answer: ImportResource) -> dict[str, Any]:
    fields: dict[str, Any] = {"cers_import_id": answer.id, "cers_status": answer.status}
    if answer.digest:
        fields["cers_digest"] = answer.digest
    if answer.message:
        fields["cers_message"] = answer.message
    if answer.batch:
        fields["cers_batch"] = answer.batch
    return fields


def session_for(district: District | None, settings: Settings) -> CersSession | None:
    """A CERS session for the district with the shared token cache; None without a district."""
    if district is None:
        return None
    return CersSession(
        district,
        TokenCache(settings.tokens_table),
        connect_timeout=settings.connect_timeout,
        retry_delay=settings.retry_delay,
    )


def _ago(seconds: float) -> str:
    stamp = datetime.now(UTC) - timedelta(seconds=seconds)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _HashingReader:
    """Passes ``read`` through and keeps the MD5 of every byte read (what CERS digests)."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._md5 = hashlib.md5(usedforsecurity=False)

    def read(self, amount: int = -1) -> bytes:
        chunk = self._stream.read(amount)
        self._md5.update(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._md5.hexdigest().upper()
