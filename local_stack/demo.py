"""`make demo`: the main job end to end on the embedded local stack.

Two sample rosters are dropped in the bucket: a valid one, which the CERS stand-in accepts and
then processes (the uploader, or else the poller, records PROCESSED), and one with errors, which
never leaves AWS and produces one alert e-mail. The demo prints the submissions as recorded in
DynamoDB, the alert e-mails, the imports CERS received and the Cognito sign-ins, and exits 0 only
when that is the outcome.

Handler logs and metrics are quiet unless ``--verbose`` is given.
"""

import os
import sys
import time
from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"
VALID, INVALID = SAMPLES / "valid_roster.csv", SAMPLES / "invalid_roster.csv"
# Seconds the CERS stand-in takes to process an accepted import.
PROCESSING_DELAY = 0.1


def main(argv: list[str]) -> int:
    if "--verbose" not in argv:
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from local_stack.stack import local_stack  # after the environment is set

    started = time.monotonic()
    with local_stack(processing_delay=PROCESSING_DELAY) as stack:
        print(
            f"Local stack up: moto at {os.environ['AWS_ENDPOINT_URL']}, CERS stand-in at "
            f"{stack.standin.endpoint}"
        )
        for roster in (VALID, INVALID):
            print(f"Dropped s3://{stack.resources.bucket}/{stack.drop(roster)}")
        stack.run()

        submissions, emails = stack.submissions(), stack.alert_emails()
        imports = stack.standin.received
        sign_ins = stack.cognito.initiate_auth_calls()
        _print_submissions(submissions)
        _print_emails(emails)
        _print_imports(imports)
        print(f"\n== Cognito InitiateAuth calls: {sign_ins} ==")
        problems = _check(submissions, emails, imports)
        if sign_ins != 1:
            problems.append(f"expected one Cognito sign-in, saw {sign_ins}")

    print(f"\nFinished in {time.monotonic() - started:.1f} s.")
    for problem in problems:
        print(f"UNEXPECTED: {problem}")
    print("Demo outcome as expected." if not problems else "Demo outcome NOT as expected.")
    return 0 if not problems else 1


def _print_submissions(submissions: list[dict]) -> None:
    print("\n== Submissions (DynamoDB) ==")
    for item in submissions:
        print(
            f"- {item['submission_id']}  {item['key']}  status={item['status']}  "
            f"rows={item.get('rows')}  digest={item.get('digest')}"
        )
        if item.get("cers_import_id") is not None:
            print(
                f"    CERS import id={item['cers_import_id']} batch={item.get('cers_batch')} "
                f"status={item['cers_status']} message={item.get('cers_message', '')!r}"
            )
        changes = item.get("normalization", {}).get("changes")
        if changes:
            copy = f"copy {item['upload_key']}" if item.get("upload_key") else "no copy"
            print(f"    normalized ({copy}): " + ", ".join(f"{k}={v}" for k, v in changes.items()))
        for problem in item.get("problems", []):
            print(f"    row {problem['row']}  {problem['rule']}: {problem['message']}")
        steps = " -> ".join(step["status"] for step in item.get("history", []))
        print(f"    history: {steps}")


def _print_emails(emails: list[dict]) -> None:
    print(f"\n== Alert e-mails ({len(emails)}) ==")
    for email in emails:
        print(f"To: alert subscribers of {email['audience']}\nSubject: {email['subject']}\n")
        print(email["body"])
        print("-" * 72)


def _print_imports(imports: list) -> None:
    print(f"\n== POSTs received by the CERS stand-in ({len(imports)}) ==")
    for post in imports:
        print(
            f"- HTTP {post.http_status} import id={post.import_id} batch={post.batch} "
            f"status={post.status} digest={post.digest} user={post.bearer_user}"
        )


def _check(submissions: list[dict], emails: list[dict], imports: list) -> list[str]:
    by_file = {item["key"].rsplit("/", 1)[-1]: item for item in submissions}
    valid, invalid = by_file.get(VALID.name, {}), by_file.get(INVALID.name, {})
    problems = []
    if valid.get("status") != "PROCESSED" or valid.get("cers_import_id") is None:
        problems.append(f"{VALID.name} should be PROCESSED with a CERS import id")
    if not valid.get("digest") or valid.get("digest") != valid.get("cers_digest"):
        problems.append(f"{VALID.name} should have the digest CERS computed recorded")
    if invalid.get("status") != "INVALID" or not invalid.get("problems"):
        problems.append(f"{INVALID.name} should be INVALID with row-numbered problems")
    if len(emails) != 1 or INVALID.name not in emails[0]["subject"]:
        problems.append("expected exactly one alert e-mail, about the invalid file")
    if [post.http_status for post in imports] != [202]:
        problems.append("the CERS stand-in should have received exactly one upload, answered 202")
    if any(_leaks_ssid(email["body"]) for email in emails):
        problems.append("an alert e-mail contains an SSID from the samples")
    return problems


def _leaks_ssid(text: str) -> bool:
    import csv

    ssids = set()
    for roster in (VALID, INVALID):
        with roster.open(newline="") as handle:
            ssids.update(row[4] for row in csv.reader(handle) if len(row) > 4 and row[4])
    ssids.discard("student_ssid")
    return any(ssid in text for ssid in ssids)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
