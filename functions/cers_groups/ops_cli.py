"""The operator commands of ``cers-groups``: drop a roster, follow submissions, read reports,
release or reject held files, send a duplicate again, move dead letters back.

Every command works against the deployed stack, found from its CloudFormation outputs
(``--stack``, default ``CersGroups``, in the AWS profile's region), or against the local stack
(``--local``, or ``CERS_GROUPS_LOCAL`` set). Read commands take ``--json``. A failure is one
line on stderr naming the bad value and what to do, with an exit code from ``ExitCode``.
"""

import json
import sys
import tempfile
import time
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cers_groups import dead_letters
from cers_groups.deployment import Deployment, DeploymentNotFoundError, find_deployment
from cers_groups.events import file_name
from cers_groups.operations import (
    DistrictNotFoundError,
    DroppedRoster,
    InvalidValueError,
    Operations,
    SubmissionNotFoundError,
    WrongStatusError,
    check_submission_id,
    utc_stamp,
)
from cers_groups.resources import (
    REPORTS_PREFIX,
    UPLOAD_DLQ,
    UPLOAD_QUEUE,
    VALIDATE_DLQ,
    VALIDATE_QUEUE,
)
from cers_groups.safety_hold import hold_lines
from cers_groups.submissions import FAILURES, Status


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a roster is invalid, or a submission waited for ended in a failure
    USAGE = 2  # a bad argument or option value (click uses 2 for its own usage errors too)
    NOT_FOUND = 3  # no such submission, district or report
    WRONG_STATUS = 4  # the submission is not in a status the command acts on
    NO_DEPLOYMENT = 5  # the stack or the local stack cannot be found or reached
    AWS_ERROR = 6  # AWS refused a request (permissions, throttling, a failed move)
    TIMED_OUT = 7  # --wait ended before the submission did


# Statuses the pipeline is still working through on its own.
IN_PROGRESS = frozenset({Status.RECEIVED, Status.VALIDATED, Status.UPLOADING})
AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
CLOCK_SKEW = timedelta(minutes=5)

NEXT_STEP = {
    Status.ON_HOLD: (
        "check the differences (`cers-groups report {id}`), then `cers-groups release {id}`"
        " to send the file or `cers-groups reject {id}` to close it"
    ),
    Status.DUPLICATE: "`cers-groups resend {id}` sends the same bytes to CERS again",
    Status.SUPERSEDED: "nothing: a newer version of the same file went to CERS instead",
    Status.ACCEPTED: "nothing: CERS is processing the file",
}

Local = Annotated[
    bool,
    typer.Option(
        "--local",
        help="Use the local stack (`make local`), from ./.local-stack.json or the file named "
        "by CERS_GROUPS_LOCAL.",
    ),
]
StackName = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="CloudFormation stack name (default: CERS_GROUPS_STACK, else CersGroups).",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
SubmissionId = Annotated[str, typer.Argument(metavar="SUBMISSION", help="A submission id.")]


# --- commands ---------------------------------------------------------------------------------


def submit(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Roster CSV to drop.")],
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="District id.")],
    name: Annotated[
        str | None, typer.Option("--as", help="Object name in the drop folder (default: FILE's).")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until the pipeline is done with the file.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 300.0,
    local: Local = False,
    stack: StackName = None,
    as_json: AsJson = False,
) -> None:
    """Drop a roster into a district's folder (incoming/<district>/), as its SIS export would."""
    if not file.is_file():
        _fail(f"{file}: no such file; give the path of a roster CSV", ExitCode.USAGE)
    since = utc_stamp(datetime.now(UTC) - CLOCK_SKEW)
    with _operations(local, stack) as ops:
        dropped = ops.submit(file, tenant, name)
        if not wait:
            _report_drop(dropped, tenant, None, as_json)
            return
        submission = _wait_for(ops, dropped, tenant, since, timeout)
        _report_drop(dropped, tenant, submission, as_json)
    if submission["status"] in FAILURES:
        raise typer.Exit(ExitCode.FAILED)


def status(
    submission_id: Annotated[
        str | None,
        typer.Argument(metavar="[SUBMISSION]", help="A submission id; none: every pending one."),
    ] = None,
    local: Local = False,
    stack: StackName = None,
    as_json: AsJson = False,
) -> None:
    """Show one submission in detail, or every submission waiting on CERS or on a person."""
    with _operations(local, stack) as ops:
        if submission_id is None:
            pending = ops.queries.pending()
        else:
            submission = ops.get(submission_id)
    if as_json:
        _print_json(pending if submission_id is None else submission)
    elif submission_id is None:
        _print_pending(pending)
    else:
        _print_submission(submission, ops.deployment)


def history(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="District id.")],
    since: Annotated[
        str, typer.Option(help="A time (2026-12-01, 2026-12-01T08:00Z) or an age (7d, 12h).")
    ] = "7d",
    digest: Annotated[
        str | None, typer.Option(help="Only submissions of the file with this MD5 digest.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most submissions shown.")] = 50,
    local: Local = False,
    stack: StackName = None,
    as_json: AsJson = False,
) -> None:
    """List a district's submissions, newest first."""
    start = _check_usage(parse_since, since, datetime.now(UTC))
    if digest is not None:
        _check_usage(check_digest, digest)
    with _operations(local, stack) as ops:
        ops.check_district(tenant)
        if digest is None:
            found = ops.queries.by_district(tenant, since=start, limit=limit)
        else:
            found = ops.queries.by_digest(tenant, digest)[::-1][:limit]
    if as_json:
        _print_json(found)
    else:
        _print_history(found, tenant, start)


def report(
    submission_id: SubmissionId,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Save the HTML page to this file.")
    ] = None,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the HTML page in a browser.")
    ] = False,
    local: Local = False,
    stack: StackName = None,
    as_json: AsJson = False,
) -> None:
    """Print a submission's reports from the bucket; save or open its HTML page."""
    saved = None
    with _operations(local, stack) as ops:
        ops.get(submission_id)
        objects = _report_objects(ops.deployment, submission_id)
        documents = {
            file_name(key): _read_json(ops.deployment.bucket, key)
            for key in objects
            if key.endswith(".json")
        }
        page = next((key for key in objects if key.endswith(".html")), None)
        if output or open_page:
            saved = _save_page(ops.deployment.bucket, page, submission_id, output)
    if as_json:
        _print_json({"submission_id": submission_id, "objects": objects, "documents": documents})
    else:
        _print_report(submission_id, ops.deployment.bucket, objects, documents, page)
    if saved is not None:
        typer.echo(f"HTML page saved to {saved}", err=as_json)
    if saved is not None and open_page and not webbrowser.open(saved.resolve().as_uri()):
        typer.echo(f"No browser found; open {saved} yourself.", err=True)


def release(
    submission_id: SubmissionId,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Release even though a newer file of the district was sent since."
        ),
    ] = False,
    local: Local = False,
    stack: StackName = None,
) -> None:
    """Send a held submission to CERS after all (ON_HOLD -> VALIDATED, queued for upload)."""
    with _operations(local, stack) as ops:
        submission = ops.release(submission_id, _operator(), force)
    typer.echo(
        f"Released {submission_id}: queued for upload to CERS (district"
        f" {submission['district']}). Follow it with `cers-groups status {submission_id}`."
    )


def reject(
    submission_id: SubmissionId,
    note: Annotated[
        str | None, typer.Option(help="Why, for the record (kept on the submission).")
    ] = None,
    local: Local = False,
    stack: StackName = None,
) -> None:
    """Close a held submission without sending it (ON_HOLD -> CANCELLED, no alert)."""
    with _operations(local, stack) as ops:
        ops.reject(submission_id, _operator(), note)
    typer.echo(f"Rejected {submission_id}: CANCELLED, nothing was sent to CERS.")


def resend(submission_id: SubmissionId, local: Local = False, stack: StackName = None) -> None:
    """Force a duplicate to be sent to CERS again (DUPLICATE -> VALIDATED, queued with force)."""
    with _operations(local, stack) as ops:
        submission = ops.resend(submission_id, _operator())
    typer.echo(
        f"Queued {submission_id} to be sent again although CERS has these bytes (district"
        f" {submission['district']}). Follow it with `cers-groups status {submission_id}`."
    )


def redrive(
    queue: Annotated[
        str, typer.Option(help="Which dead-letter queue: validate, upload or all.")
    ] = "all",
    most: Annotated[
        int | None, typer.Option("--max", min=1, help="Move at most this many per queue.")
    ] = None,
    local: Local = False,
    stack: StackName = None,
    as_json: AsJson = False,
) -> None:
    """Move messages from the dead-letter queues back to their queues, once the cause is fixed."""
    pairs = {"validate": (VALIDATE_DLQ, VALIDATE_QUEUE), "upload": (UPLOAD_DLQ, UPLOAD_QUEUE)}
    if queue not in {*pairs, "all"}:
        _fail(f"--queue {queue!r} is not a queue; use validate, upload or all", ExitCode.USAGE)
    chosen = list(pairs) if queue == "all" else [queue]
    with _operations(local, stack) as ops:
        moves = {
            name: dead_letters.move_messages(
                ops.deployment.value(pairs[name][0]), ops.deployment.value(pairs[name][1]), most
            )
            for name in chosen
        }
    _print_moves(moves, as_json)
    if any(move.failed for move in moves.values()):
        raise typer.Exit(ExitCode.AWS_ERROR)


COMMANDS: tuple[Callable[..., None], ...] = (
    submit,
    status,
    history,
    report,
    release,
    reject,
    resend,
    redrive,
)


def register(app: typer.Typer) -> None:
    """Adds the operator commands to the ``cers-groups`` application."""
    for command in COMMANDS:
        app.command()(command)


# --- input -------------------------------------------------------------------------------------


def parse_since(value: str, now: datetime) -> str:
    """A time or an age (``7d``, ``12h``, ``30m``, ``2w``) as the table's time format."""
    text = value.strip()
    unit = AGE_UNITS.get(text[-1:].lower())
    if unit and text[:-1].isdigit():
        return utc_stamp(now - timedelta(**{unit: int(text[:-1])}))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidValueError(
            f"--since {value!r} is neither a time nor an age; use e.g. 2026-12-01,"
            " 2026-12-01T08:00Z or 7d (also 12h, 30m, 2w)"
        ) from None
    return utc_stamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def check_digest(value: str) -> str:
    if len(value) != 32 or any(ch not in "0123456789abcdefABCDEF" for ch in value):
        raise InvalidValueError(
            f"--digest {value!r} is not an MD5 digest; give the 32 hex digits"
            " `cers-groups validate --json` or `md5sum` prints"
        )
    return value.upper()


def _check_usage(check: Callable[..., Any], *args: Any) -> Any:
    try:
        return check(*args)
    except InvalidValueError as error:
        _fail(str(error), ExitCode.USAGE)


# --- plumbing ----------------------------------------------------------------------------------


@contextmanager
def _operations(local: bool, stack: str | None) -> Iterator[Operations]:
    """The deployment's operations, with every expected failure turned into one line."""
    where, local_stack = "AWS", local
    try:
        deployment = find_deployment(local=local, stack_name=stack)
        where, local_stack = deployment.description, deployment.endpoint_url is not None
        with deployment.connected():
            yield Operations(deployment)
    except InvalidValueError as error:
        _fail(str(error), ExitCode.USAGE)
    except (SubmissionNotFoundError, DistrictNotFoundError) as error:
        _fail(str(error), ExitCode.NOT_FOUND)
    except WrongStatusError as error:
        _fail(str(error), ExitCode.WRONG_STATUS)
    except DeploymentNotFoundError as error:
        _fail(str(error), ExitCode.NO_DEPLOYMENT)
    except EndpointConnectionError as error:
        _fail(f"cannot reach {where} ({error}); {_reach_hint(local_stack)}", ExitCode.NO_DEPLOYMENT)
    except BotoCoreError as error:
        _fail(f"{error}; {_reach_hint(local_stack)}", ExitCode.NO_DEPLOYMENT)
    except ClientError as error:
        details = error.response.get("Error", {})
        _fail(
            f"AWS refused {error.operation_name} on {where}: {details.get('Code')}:"
            f" {details.get('Message')}",
            ExitCode.AWS_ERROR,
        )
    except OSError as error:
        _fail(f"{error.filename or 'file'}: {error.strerror or error}", ExitCode.USAGE)


def _reach_hint(local: bool) -> str:
    if local:
        return "is the local stack running? Start it with `make local`"
    return "check AWS_PROFILE and AWS_DEFAULT_REGION (or `aws sso login`), or use --local"


def _fail(message: str, code: ExitCode) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _operator() -> str:
    """Who is acting, for the record: the caller's AWS identity."""
    try:
        return boto3.client("sts").get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError):
        return "unknown"


def _wait_for(ops: Operations, dropped: DroppedRoster, tenant: str, since: str, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        submission = ops.find_dropped(dropped, tenant, since)
        if submission is not None and submission["status"] not in IN_PROGRESS:
            return submission
        if time.monotonic() > deadline:
            state = submission["status"] if submission else "not recorded yet"
            _fail(
                f"s3://{dropped.bucket}/{dropped.key} is still {state} after {timeout:g} s;"
                f" follow it with `cers-groups history --tenant {tenant}`",
                ExitCode.TIMED_OUT,
            )
        time.sleep(1)


def _report_objects(deployment: Deployment, submission_id: str) -> list[str]:
    prefix = f"{REPORTS_PREFIX}{check_submission_id(submission_id)}/"
    paginator = boto3.client("s3").get_paginator("list_objects_v2")
    keys = [
        item["Key"]
        for page in paginator.paginate(Bucket=deployment.bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    if not keys:
        raise SubmissionNotFoundError(
            f"no report for submission {submission_id} in s3://{deployment.bucket}/{prefix}:"
            f" it is written once the file is read; see `cers-groups status {submission_id}`"
        )
    return sorted(keys)


def _read_json(bucket: str, key: str) -> Any:
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    with body:
        return json.loads(body.read())


def _save_page(bucket: str, page: str | None, submission_id: str, output: Path | None) -> Path:
    if page is None:
        raise SubmissionNotFoundError(
            f"submission {submission_id} has no HTML page in s3://{bucket}/{REPORTS_PREFIX}"
            f"{submission_id}/; print the JSON reports with `cers-groups report {submission_id}`"
        )
    if output is None:
        output = Path(tempfile.mkdtemp(prefix="cers-groups-")) / f"{submission_id}.html"
    boto3.client("s3").download_file(bucket, page, str(output))
    return output


# --- output ------------------------------------------------------------------------------------


def _console() -> Console:
    # Pipes and files get wide lines rather than wrapped tables.
    return Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def _print_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _report_drop(dropped: DroppedRoster, tenant: str, submission: dict | None, as_json: bool):
    if as_json:
        document = {"bucket": dropped.bucket, "key": dropped.key, "version_id": dropped.version_id}
        _print_json({**document, "submission": submission})
        return
    version = f" (version {dropped.version_id})" if dropped.version_id else ""
    typer.echo(f"Dropped s3://{dropped.bucket}/{dropped.key}{version}.")
    if submission is None:
        typer.echo(f"Follow it with `cers-groups history --tenant {tenant}`.")
        return
    typer.echo(f"Submission {submission['submission_id']}: {_status_line(submission)}")
    hint = NEXT_STEP.get(submission["status"])
    if hint:
        typer.echo(f"Next: {hint.format(id=submission['submission_id'])}")


def _status_line(submission: dict[str, Any]) -> str:
    line = submission["status"]
    if submission.get("cers_import_id") is not None:
        line += f" (CERS import {_plain(submission['cers_import_id'])})"
    if submission.get("problem_count"):
        line += f", {_plain(submission['problem_count'])} problems"
    return line


def _print_submission(submission: dict[str, Any], deployment: Deployment) -> None:
    lines = [f"Submission {submission['submission_id']}"]
    for label, value in _submission_rows(submission, deployment.bucket):
        first, *more = value.splitlines() or [""]
        lines.append(f"  {label:<12}{first}")
        lines.extend(f"  {'':<12}{line}" for line in more)
    typer.echo("\n".join(lines))


def _submission_rows(submission: dict[str, Any], bucket: str) -> Iterator[tuple[str, str]]:
    version = f" (version {submission['version_id']})" if submission.get("version_id") else ""
    yield "district", submission["district"]
    yield "file", f"s3://{submission['bucket']}/{submission['key']}{version}"
    yield "status", f"{_status_line(submission)} since {submission['updated_at']}"
    yield "dropped", str(submission.get("dropped_at", "-"))
    if "rows" in submission:
        yield "rows", f"{_plain(submission['rows']):,}  digest {submission.get('digest', '-')}"
    for problem in submission.get("problems", []):
        where = "file" if problem.get("row") is None else f"row {_plain(problem['row'])}"
        yield "problem", f"{where} [{problem['rule']}] {problem['message']}"
    if submission.get("cers_message"):
        yield "CERS said", submission["cers_message"]
    for field in ("failure", "reason", "released_by", "resent_by", "rejected_by", "note"):
        if submission.get(field):
            yield field.replace("_", " "), str(submission[field])
    if submission.get("hold"):
        hold = submission["hold"]
        for line in hold_lines(hold):
            yield "hold", line
        yield "hold diff", f"s3://{bucket}/{hold['diff_key']} (baseline {hold['baseline']})"
    if submission.get("report_key"):
        yield "report", f"s3://{bucket}/{submission['report_key']}"
    steps = [f"{step['status']} {step['at']}" for step in submission.get("history", [])]
    yield "history", "\n".join(steps)
    hint = NEXT_STEP.get(submission["status"])
    if hint:
        yield "next", hint.format(id=submission["submission_id"])


def _print_pending(pending: list[dict[str, Any]]) -> None:
    console = _console()
    if not pending:
        console.print("Nothing pending: no submission waits on CERS or on a person.")
        return
    table = Table("since", "district", "submission", "file", "status", box=None)
    for item in pending:
        table.add_row(
            *map(
                Text,
                (
                    item["updated_at"],
                    item["district"],
                    item["submission_id"],
                    file_name(item["key"]),
                    item["status"],
                ),
            )
        )
    console.print(table)
    console.print(f"{len(pending)} pending. Details: `cers-groups status SUBMISSION`.")


def _print_history(found: list[dict[str, Any]], tenant: str, since: str) -> None:
    console = _console()
    if not found:
        console.print(f"No submissions of {tenant} since {since}.")
        return
    table = Table("created", "submission", "file", "status", "rows", "problems", box=None)
    for item in found:
        table.add_row(
            *map(
                Text,
                (
                    item["created_at"],
                    item["submission_id"],
                    file_name(item["key"]),
                    item["status"],
                    str(_plain(item.get("rows", ""))),
                    str(_plain(item.get("problem_count", ""))),
                ),
            )
        )
    console.print(table)


def _print_report(
    submission_id: str, bucket: str, objects: list[str], documents: dict, page: str | None
) -> None:
    console = _console()
    console.print(f"Reports of submission {submission_id}:", markup=False)
    for key in objects:
        console.print(f"  s3://{bucket}/{key}", markup=False)
    validation = documents.get("validation.json")
    if validation:
        _print_validation(console, validation)
    counts = documents.get("groups.json")
    if counts:
        totals = counts["totals"]
        console.print(f"Groups: {totals['groups']:,} groups, {totals['students']:,} students.")
    diff = documents.get("hold.json")
    if diff:
        _print_hold(console, diff)
    if page:
        console.print("HTML page: save it with --output FILE or open it with --open.")


def _print_validation(console: Console, validation: dict[str, Any]) -> None:
    verdict = "valid" if validation.get("valid") else "INVALID"
    errors = validation.get("errors", [])
    console.print(
        f"Validation: {verdict}, {validation.get('rows', 0):,} rows, {len(errors):,} problems,"
        f" digest {validation.get('digest')}.",
        markup=False,
    )
    for problem in errors:
        where = "file" if problem.get("row") is None else f"row {problem['row']}"
        console.print(f"  {where}  {problem['rule']}  {problem['message']}", markup=False)


def _print_hold(console: Console, diff: dict[str, Any]) -> None:
    baseline = diff.get("baseline", {})
    console.print(
        f"Safety hold: {'held' if diff.get('held') else 'not held'}, compared with submission"
        f" {baseline.get('submission_id')} ({baseline.get('file')}).",
        markup=False,
    )
    for line in hold_lines(diff["summary"]):
        console.print(f"  {line}", markup=False)
    table = Table("school", "group", "year", "before", "after", "flag", box=None)
    for group in diff.get("groups", []):
        table.add_row(
            *map(
                Text,
                (
                    group["school"],
                    group["group"],
                    group["school_year"],
                    str(group["students_before"]),
                    str(group["students_after"]),
                    group["flag"] or "",
                ),
            )
        )
    if diff.get("groups"):
        console.print(table)


def _print_moves(moves: dict[str, dead_letters.Move], as_json: bool) -> None:
    if as_json:
        _print_json({name: vars(move) for name, move in moves.items()})
        return
    for name, move in moves.items():
        source, destination = _queue_name(move.source), _queue_name(move.destination)
        typer.echo(f"{name}: moved {move.moved} message(s) from {source} back to {destination}.")
        for failure in move.failed:
            typer.echo(f"{name}: could not move a message ({failure}); it stays in {source}.")


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]
