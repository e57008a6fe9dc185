"""Alarms and the dashboard: what the operators see and are told about.

Every alarm notifies the alert topic. CloudWatch alarm notifications carry no SNS message
attributes, so the district subscriptions (filtered on the `district` attribute) never receive
them: only the operators' addresses, which have no filter, do.
"""

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cers_groups import resources as res
from cers_groups.tenants import District

# Function errors, throttles and dead letters: one bad five-minute period is enough.
FAST_PERIOD = Duration.minutes(5)
# Heartbeats count files per hour; an alarm looks back over heartbeat_hours such periods.
HEARTBEAT_PERIOD = Duration.hours(1)
# The poller reports stuck submissions on each run; any in an hour is worth a look.
STUCK_PERIOD = Duration.hours(1)
DASHBOARD_WIDTH = 24
WIDGET_WIDTH = 8
WIDGET_HEIGHT = 6

PIPELINE_COUNTS = (
    res.FILES_RECEIVED,
    res.FILES_VALID,
    res.FILES_INVALID,
    res.FILES_UPLOADED,
    res.FILES_PROCESSED,
    res.FILES_FAILED,
)


@dataclass(frozen=True)
class AlarmKind:
    """What is watched, in the alarm's name and in the sentence operators read."""

    slug: str
    description: str


DEAD_LETTERS = AlarmKind(
    "dead-letters",
    "Messages reached the dead-letter queue {queue}: a dropped file or an upload failed "
    "three times and is no longer being worked on. Read the function's logs for the "
    "submission id, fix the cause, then move the messages back (SQS redrive).",
)
ERRORS = AlarmKind(
    "errors",
    "The {function} function failed (an error it did not turn into a submission status). "
    "Its messages are retried and end in the dead-letter queue if it keeps failing; read "
    "its logs in CloudWatch.",
)
THROTTLES = AlarmKind(
    "throttles",
    "The {function} function was throttled: Lambda refused to run it for lack of "
    "concurrency. Files wait in the queue meanwhile; check the account's Lambda "
    "concurrency and this function's reserved concurrency.",
)
HEARTBEAT = AlarmKind(
    "no-file",
    "No file has arrived from district {district} in {hours} hours. Its SIS export may have "
    "stopped: check the export job and its credentials to the drop folder {prefix}.",
)
STUCK = AlarmKind(
    "stuck",
    "Submissions of district {district} were accepted by CERS but have not been processed "
    "in the expected time. Check their status with the cers-groups CLI and the CERS "
    "import history.",
)


def metric(name: str, *, district: str | None = None, statistic: str = "Sum", period=None):
    """A metric the functions emit, with exactly the dimensions they give it."""
    dimensions = {res.SERVICE_DIMENSION: res.SERVICE_NAME}
    if district is not None:
        dimensions[res.DISTRICT_DIMENSION] = district
    return cloudwatch.Metric(
        namespace=res.METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=period or FAST_PERIOD,
    )


class Monitoring(Construct):
    """Alarms on the pipeline's parts, each notifying the alert topic, and one dashboard.

    The stack calls ``watch_function`` and ``watch_dead_letters`` for each part it builds, and
    ``watch_district`` for each district; each call adds its alarms and dashboard widgets.
    """

    def __init__(self, scope: Construct, id_: str, *, topic: sns.ITopic) -> None:
        super().__init__(scope, id_)
        self._action = actions.SnsAction(topic)
        self._prefix = Stack.of(self).stack_name
        self.alarms: list[cloudwatch.Alarm] = []
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=self._prefix)
        self.dashboard.add_widgets(*self._pipeline_widgets())
        self._district_receipts: list[cloudwatch.IMetric] = []
        self._district_stuck: list[cloudwatch.IMetric] = []

    def watch_function(self, name: str, function: lambda_.IFunction) -> None:
        """Alarms on errors and throttles, and a row of the function's figures."""
        errors = function.metric_errors(period=FAST_PERIOD, statistic="Sum")
        throttles = function.metric_throttles(period=FAST_PERIOD, statistic="Sum")
        self._alarm(f"{name}Errors", errors, ERRORS, f"{name.lower()}-errors", function=name)
        self._alarm(
            f"{name}Throttles", throttles, THROTTLES, f"{name.lower()}-throttles", function=name
        )
        self.dashboard.add_widgets(
            _graph(
                f"{name}: invocations, errors, throttles",
                [
                    function.metric_invocations(period=FAST_PERIOD, statistic="Sum"),
                    errors,
                    throttles,
                ],
            ),
            _graph(
                f"{name}: duration (ms)",
                [
                    function.metric_duration(period=FAST_PERIOD, statistic="Average"),
                    function.metric_duration(period=FAST_PERIOD, statistic="Maximum"),
                ],
            ),
            _graph(
                f"{name}: concurrent executions",
                [function.metric("ConcurrentExecutions", period=FAST_PERIOD, statistic="Maximum")],
            ),
        )

    def watch_dead_letters(self, name: str, queue: sqs.IQueue, dead_letters: sqs.IQueue) -> None:
        """An alarm as soon as one message is in the dead-letter queue; both queues' depth."""
        waiting = dead_letters.metric_approximate_number_of_messages_visible(
            period=FAST_PERIOD, statistic="Maximum"
        )
        self._alarm(
            f"{name}DeadLetters",
            waiting,
            DEAD_LETTERS,
            f"{name.lower()}-dead-letters",
            queue=name,
        )
        self.dashboard.add_widgets(
            _graph(
                f"{name} queue: waiting, oldest (s), dead letters",
                [
                    queue.metric_approximate_number_of_messages_visible(
                        period=FAST_PERIOD, statistic="Maximum"
                    ),
                    queue.metric_approximate_age_of_oldest_message(
                        period=FAST_PERIOD, statistic="Maximum"
                    ),
                    waiting,
                ],
                width=DASHBOARD_WIDTH,
            )
        )

    def watch_district(self, district: District, construct_suffix: str) -> None:
        """Its heartbeat (when configured) and its stuck submissions."""
        received = metric(res.FILES_RECEIVED, district=district.id, period=HEARTBEAT_PERIOD)
        self._district_receipts.append(received.with_(label=district.id))
        if district.heartbeat_hours:
            self._heartbeat(district, construct_suffix, received)
        stuck = metric(
            res.SUBMISSIONS_STUCK, district=district.id, statistic="Maximum", period=STUCK_PERIOD
        )
        self._district_stuck.append(stuck.with_(label=district.id))
        self._alarm(
            f"Stuck{construct_suffix}",
            stuck,
            STUCK,
            f"district-{district.id}-stuck",
            district=district.id,
        )

    def finish(self) -> None:
        """The per-district widgets, once every district has been added."""
        self.dashboard.add_widgets(
            _graph("Files received per district (hourly)", self._district_receipts, width=12),
            _graph("Submissions stuck per district", self._district_stuck, width=12),
        )

    def _heartbeat(self, district: District, suffix: str, received: cloudwatch.Metric) -> None:
        hours = district.heartbeat_hours
        self.alarms.append(
            self._with_action(
                cloudwatch.Alarm(
                    self,
                    f"Heartbeat{suffix}",
                    alarm_name=f"{self._prefix}-district-{district.id}-no-file-{hours}h",
                    alarm_description=HEARTBEAT.description.format(
                        district=district.id, hours=hours, prefix=district.prefix
                    ),
                    metric=received,
                    # Fewer than one file in each of the last N hours, and an hour without
                    # any data point counts as no file: that is the point of a heartbeat.
                    comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                    threshold=1,
                    evaluation_periods=hours,
                    datapoints_to_alarm=hours,
                    treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
                )
            )
        )

    def _alarm(
        self, id_: str, watched: cloudwatch.IMetric, kind: AlarmKind, slug: str, **words: str
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            id_,
            alarm_name=f"{self._prefix}-{slug}",
            alarm_description=kind.description.format(**words),
            metric=watched,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            threshold=1,
            evaluation_periods=1,
            # No data means nothing failed, nothing waits and the poller saw nothing stuck.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms.append(self._with_action(alarm))
        return alarm

    def _with_action(self, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        alarm.add_alarm_action(self._action)
        return alarm

    def _pipeline_widgets(self) -> list[cloudwatch.IWidget]:
        counts = [metric(name).with_(label=name) for name in PIPELINE_COUNTS]
        seconds = [
            metric(name, statistic=statistic).with_(label=f"{name} {statistic.lower()}")
            for name in (res.VALIDATION_SECONDS, res.UPLOAD_SECONDS)
            for statistic in ("Average", "Maximum")
        ]
        return [
            _graph("Files", counts),
            _graph("Rows validated", [metric(res.ROWS_VALIDATED)]),
            _graph("Validation and upload seconds", seconds),
        ]


def _graph(
    title: str, metrics: list[cloudwatch.IMetric], *, width: int = WIDGET_WIDTH
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=metrics, width=width, height=WIDGET_HEIGHT)
