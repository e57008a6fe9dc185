"""Following uploads through at CERS: what the scheduled poller does on each run.

- ACCEPTED (and STUCK) submissions are looked up with ``GET /groups/imports?batch=...`` and moved
  to PROCESSED or BAD_DATA when CERS has finished them. When the batch query does not show the
  import, ``GET /imports/{id}`` is tried; a 403 there is normal for group-only logins.
- UNCONFIRMED submissions (the upload's answer was lost) are looked up the same way and recorded
  once CERS shows their import.
- Past the deadline, an ACCEPTED submission becomes STUCK (one alert; it is still followed and
  no longer holds the district's next upload), and an UNCONFIRMED one OUTCOME_UNKNOWN.
- An UPLOADING submission no uploader run can still hold (older than the uploader's 15-minute
  limit) is UNCONFIRMED: its run ended without recording an answer, perhaps after the POST.
- A district with nothing ACCEPTED or unconfirmed gets its oldest WAITING submission released
  to the upload queue.
- ``SubmissionsStuck`` (namespace CersGroups, dimension ``district``) is emitted for every
  district on every run, so an alarm on it sees zeros as well as stuck files.
"""

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from cers_groups import cognito, storage
from cers_groups.cers import CersError, ImportResource
from cers_groups.errors import ConfigurationError
from cers_groups.observability import logger
from cers_groups.outcomes import alert_if_needed, fail
from cers_groups.session import CersSession
from cers_groups.settings import Settings
from cers_groups.submissions import Status, SubmissionStore, now
from cers_groups.uploads import (
    HOLDING,
    blockers,
    drop_order,
    find_import,
    record_answer,
    session_for,
)

METRICS_NAMESPACE = "CersGroups"
STUCK_METRIC = "SubmissionsStuck"
DISTRICT_DIMENSION = "district"
FOLLOWED = (Status.ACCEPTED, Status.STUCK, Status.UNCONFIRMED)
# A released submission still VALIDATED this long later lost its queue message: send another.
REQUEUE_AFTER = timedelta(minutes=15)
# No uploader run lasts longer than Lambda's 15 minutes: an UPLOADING submission this old was
# left by a run that ended without recording an answer.
ABANDONED_AFTER = timedelta(minutes=20)
# A STUCK submission's alert claim is dropped when CERS rejects it after all, so that the
# rejection alerts too.
_ALERT_FIELDS = ("alerted_at", "alert_claimed_at")
_LOOKUP_ERRORS = (CersError, cognito.AuthenticationError, ConfigurationError)


@dataclass
class FollowUpRun:
    """What one run did, for its log line and the local runner."""

    looked_up: int = 0
    changed: int = 0
    released: int = 0
    stuck: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "looked_up": self.looked_up,
            "changed": self.changed,
            "released": self.released,
            "stuck": self.stuck,
        }


def follow_up(settings: Settings) -> FollowUpRun:
    store = SubmissionStore(settings.submissions_table)
    run = FollowUpRun()
    followed: dict[str, list[dict]] = defaultdict(list)
    for status in FOLLOWED:
        for item in store.pending(status):
            followed[item["district"]].append(item)

    districts = {district.id for district in settings.tenants.districts} | set(followed)
    for district_id in sorted(districts):
        session = session_for(settings.tenants.district(district_id), settings)
        for item in followed.get(district_id, []):
            run.looked_up += session is not None
            if _follow(item, session, store, settings):
                run.changed += 1
            alert_if_needed(store, item["submission_id"], settings)

    # Read once for all districts, after following: asking per district read every district's
    # pending submissions once per district, which grew with districts times files.
    pending = {status: store.pending(status) for status in HOLDING}
    for district_id in sorted(districts):
        recent = store.recent(district_id, since=_iso(datetime.now(UTC) - _window(settings)))
        run.changed += _unconfirm_abandoned(_on_the_way(recent), store)
        run.released += _release(district_id, recent, pending, store, settings)

    run.stuck = _count_stuck(store, districts)
    for district_id, count in run.stuck.items():
        _emit_stuck(district_id, count)
    logger.info("Follow-up run finished", **run.as_dict())
    return run


def _follow(item: dict, session: CersSession | None, store, settings: Settings) -> bool:
    """Look one submission up at CERS and record any change; True when its status changed."""
    logger.set_correlation_id(item["submission_id"])
    logger.append_keys(submission_id=item["submission_id"], district=item.get("district"))
    status = Status(item["status"])
    found = None
    if session is not None:
        try:
            found = _look_up(item, session)
        except _LOOKUP_ERRORS as error:
            logger.warning(
                "CERS lookup failed",
                submission_id=item["submission_id"],
                reason=getattr(error, "reason", type(error).__name__),
            )

    # Still ACCEPTED at CERS is no news, except for a file whose import was not known yet.
    news = found is not None and (found.status != "ACCEPTED" or status == Status.UNCONFIRMED)
    if news:
        clear = _ALERT_FIELDS if status == Status.STUCK else ()
        return record_answer(item, found, store, status, clear=clear) is not None
    return _past_deadline(item, status, store, settings)


def _look_up(item: dict, session: CersSession) -> ImportResource | None:
    if item.get("cers_import_id") is None:
        return find_import(session, item)

    import_id = int(item["cers_import_id"])
    batch = item.get("cers_batch") or item.get("batch")
    if batch:
        found = session.call(lambda client: client.find_imports(batch=batch))
        match = [answer for answer in found if answer.id == import_id]
        if match:
            return match[0]
    try:
        return session.call(lambda client: client.get_import(import_id))
    except CersError as error:
        if error.reason not in ("forbidden", "not-found"):
            raise
        # Group-only logins may not read /imports/{id}; that is how CERS is set up.
        logger.info("Import not readable by id", cers_import_id=import_id, reason=error.reason)
        return None


def _past_deadline(item: dict, status: Status, store, settings: Settings) -> bool:
    sent_at = _time(item.get("sent_at") or item["updated_at"])
    if datetime.now(UTC) - sent_at < timedelta(seconds=settings.deadline):
        return False

    hours = _hours(settings.deadline)
    if status == Status.ACCEPTED:
        return fail(
            store,
            item["submission_id"],
            status,
            Status.STUCK,
            f"CERS accepted the file as import {item.get('cers_import_id')} but had not "
            f"finished processing it {hours} after it was sent. It is still being followed; "
            "the district's next files no longer wait for it.",
            reason="processing-overdue",
        )
    if status == Status.UNCONFIRMED:
        return fail(
            store,
            item["submission_id"],
            status,
            Status.OUTCOME_UNKNOWN,
            f"The upload's answer was lost and, {hours} later, CERS still shows no import under"
            f" batch {item.get('batch')} nor one with the file's digest. CERS most likely did "
            "not keep the file.",
            reason="not-found-at-cers",
        )
    return False


def _on_the_way(recent: list[dict]) -> list[dict]:
    """The submissions between validation and CERS's answer, among a district's recent ones."""
    return [item for item in recent if item["status"] in (Status.VALIDATED, Status.UPLOADING)]


def _release(
    district_id: str,
    recent: list[dict],
    pending: Mapping[Status, list[dict]],
    store: SubmissionStore,
    settings: Settings,
) -> int:
    """Send on the district's WAITING submission dropped first, when nothing holds it any more
    (nothing being sent or processed at CERS, no file dropped before it still unsent).

    ``pending`` holds this run's WAITING, ACCEPTED and UNCONFIRMED submissions and ``recent``
    the district's latest. Read a moment ago, they may miss a change an uploader made since;
    the uploader checks again before sending a released file, and a file that must still wait
    goes back to WAITING.
    """
    waiting = [item for item in pending[Status.WAITING] if item["district"] == district_id]
    on_the_way = _on_the_way(recent)
    _requeue_lost(on_the_way, store, settings)
    if not waiting or on_the_way:
        return 0
    first = min(waiting, key=drop_order)
    if blockers(store, district_id, settings, before=first, pending=pending, recent=recent):
        return 0

    if not store.advance(
        first["submission_id"], Status.WAITING, Status.VALIDATED, released_at=now()
    ):
        return 0
    _queue(first, settings)
    logger.set_correlation_id(first["submission_id"])
    logger.info("Waiting upload released", submission_id=first["submission_id"])
    return 1


def _requeue_lost(on_the_way: list[dict], store, settings: Settings) -> None:
    """A released submission whose queue message was lost (the run died after releasing it)."""
    cutoff = _iso(datetime.now(UTC) - REQUEUE_AFTER)
    for item in on_the_way:
        if item["status"] == Status.VALIDATED and item.get("released_at", now()) < cutoff:
            released = store.advance(
                item["submission_id"], Status.VALIDATED, Status.VALIDATED, released_at=now()
            )
            if released:
                _queue(item, settings)
                logger.warning("Released upload sent to the queue again")


def _unconfirm_abandoned(on_the_way: list[dict], store: SubmissionStore) -> int:
    """An upload whose run ended without a record (killed, or its claim's answer lost): it is
    looked up by batch from now on, like any upload whose answer was lost, and never re-sent.
    The number of submissions changed."""
    cutoff = _iso(datetime.now(UTC) - ABANDONED_AFTER)
    changed = 0
    for item in on_the_way:
        if item["status"] != Status.UPLOADING or item["updated_at"] >= cutoff:
            continue
        if store.advance(
            item["submission_id"],
            Status.UPLOADING,
            Status.UNCONFIRMED,
            note="The upload's run ended without recording an answer; the poller looks the import "
            "up by batch.",
        ):
            logger.warning(
                "Abandoned upload is now unconfirmed", submission_id=item["submission_id"]
            )
            changed += 1
    return changed


def _queue(item: dict, settings: Settings) -> None:
    # A new deduplication id: the FIFO queue drops a repeat of the first one for 5 minutes.
    storage.queue_upload(
        settings.upload_queue_url,
        item["submission_id"],
        item["district"],
        force=bool(item.get("force")),
        deduplication_id=f"{item['submission_id']}-{uuid.uuid4().hex[:12]}",
    )


def _count_stuck(store: SubmissionStore, districts: set[str]) -> dict[str, int]:
    counts = dict.fromkeys(sorted(districts), 0)
    for item in store.pending(Status.STUCK):
        counts[item["district"]] = counts.get(item["district"], 0) + 1
    return counts


def _emit_stuck(district_id: str, count: int) -> None:
    """One EMF document per district with exactly the ``district`` dimension (no ``service``),
    which is what the alarm on SubmissionsStuck selects."""
    provider = AmazonCloudWatchEMFProvider(namespace=METRICS_NAMESPACE, service="")
    provider.add_metric(name=STUCK_METRIC, unit=MetricUnit.Count, value=count)
    provider.add_dimension(name=DISTRICT_DIMENSION, value=district_id)
    provider.flush_metrics(raise_on_empty_metrics=True)


def _window(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.deadline) + REQUEUE_AFTER


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} hours"
    if seconds >= 60:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"
