"""Each handler invocation in a Python process of its own, as a fresh Lambda container runs it.

``ProcessHandler`` stands in for a handler wherever the local stack takes one (a
``QueueConsumer``, a poller run): it starts ``python -m local_stack.lambda_process <module>``,
hands it the event, and returns the handler's answer; ``start_invocation`` starts one without
waiting (local_stack.lambda_container kills such children). The child inherits the environment,
so it talks to the same moto server and CERS stand-in. For every invocation ``ProcessHandler``
keeps the child's wall time, CPU time (user and system, from ``wait4``: a figure a busy machine
does not inflate) and peak resident memory, and, with ``trace_memory``, the peak of Python's own
allocations while the handler ran (tracemalloc).

The peak resident memory is the child's own high-water mark (``VmHWM``), read by the child when
the handler has returned. ``ru_maxrss`` from ``wait4`` would not do: Linux carries the parent's
peak over into the child at fork and exec, and the parent here holds moto and the stand-in.

The event and the answer travel in files: the handlers log to stdout.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Invocation:
    function_name: str
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    traced_peak_mb: float | None  # Python allocations during the handler, with trace_memory


@dataclass
class ProcessHandler:
    """A handler module (``cers_groups.handlers.uploader``) run in a child process per call."""

    module: str
    trace_memory: bool = False
    quiet: bool = True  # the handlers' log lines are not shown
    invocations: list[Invocation] = field(default_factory=list)

    def __call__(self, event: dict, context) -> dict:
        started = time.monotonic()
        child = start_invocation(
            self.module,
            context.function_name,
            event,
            trace_memory=self.trace_memory,
            quiet=self.quiet,
        )
        _, status, usage = os.wait4(child.process.pid, 0)
        seconds = time.monotonic() - started
        child.process.returncode = os.waitstatus_to_exitcode(status)
        answer = child.answer()
        if answer is None:
            raise RuntimeError(f"{self.module} exited with status {child.process.returncode}")

        self.invocations.append(
            Invocation(
                function_name=context.function_name,
                seconds=seconds,
                cpu_seconds=usage.ru_utime + usage.ru_stime,
                peak_rss_mb=answer["peak_rss_mb"],
                traced_peak_mb=answer.get("traced_peak_mb"),
            )
        )
        return answer["response"]

    @property
    def peak_rss_mb(self) -> float:
        return max((call.peak_rss_mb for call in self.invocations), default=0.0)

    @property
    def seconds(self) -> float:
        return sum(call.seconds for call in self.invocations)

    @property
    def cpu_seconds(self) -> float:
        return sum(call.cpu_seconds for call in self.invocations)


@dataclass
class ChildInvocation:
    """One handler invocation running in its own process."""

    process: subprocess.Popen
    workdir: tempfile.TemporaryDirectory

    @property
    def answer_file(self) -> Path:
        return Path(self.workdir.name) / "answer.json"

    def answer(self) -> dict | None:
        """What the finished child wrote ("response", "peak_rss_mb", ...); None when it wrote
        nothing (the handler raised, or the process was killed). The files go with it."""
        try:
            text = self.answer_file.read_text() if self.answer_file.exists() else ""
        finally:
            self.workdir.cleanup()
        return json.loads(text) if text else None


def start_invocation(
    module: str, function_name: str, event: dict, *, trace_memory=False, quiet=True
) -> ChildInvocation:
    """Start ``python -m local_stack.lambda_process`` on ``event``; it runs while this returns."""
    workdir = tempfile.TemporaryDirectory(prefix="cers-groups-lambda-")
    event_file, answer_file = Path(workdir.name) / "event.json", Path(workdir.name) / "answer.json"
    event_file.write_text(json.dumps(event))
    command = [sys.executable, "-m", "local_stack.lambda_process", module]
    command += [function_name, str(event_file), str(answer_file)]
    command += ["--trace-memory"] if trace_memory else []
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(  # noqa: S603 - our own fixed argv
        command, cwd=ROOT, env=_child_environment(), stdout=output, stderr=output
    )
    return ChildInvocation(process, workdir)


def _child_environment() -> dict[str, str]:
    paths = [str(ROOT), str(ROOT / "functions"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}


def main(argv: list[str]) -> int:
    """The child: import the handler (as Lambda's init does), run it once, write its answer."""
    from local_stack.lambda_runner import LambdaContext
    from local_stack.observers import observe_this_process

    observe_this_process()
    module, function_name, event_file, answer_file = argv[:4]
    trace = "--trace-memory" in argv[4:]
    handler = import_module(module).lambda_handler
    event = json.loads(Path(event_file).read_text())
    if trace:
        tracemalloc.start()
    response = handler(event, LambdaContext(function_name=function_name))
    answer: dict = {"response": response}
    if trace:
        answer["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    answer["peak_rss_mb"] = _peak_rss_mb()
    Path(answer_file).write_text(json.dumps(answer, default=str))
    return 0


def _peak_rss_mb() -> float:
    """This process's peak resident memory since exec (Linux's VmHWM, in kilobytes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
