"""Several grid points at once on this machine: each its own `vae train` process, on a GPU of its own or a
share of the CPU cores.

A crash, a NaN or an out-of-memory kill ends only its own process and run. Each child runs in
its own process group (its own session), so the terminal's Ctrl-C reaches only this process,
which then stops every child the same way (SIGINT: the child marks its run KILLED and keeps
its last checkpoint) and waits for them; a child still running after STOP_GRACE seconds, or at
a second Ctrl-C, is killed with its whole group. On Linux each child also gets SIGTERM should
this process die without cleaning up (PR_SET_PDEATHSIG), so no training outlives its sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from vaecli.errors import TrainingInterrupted
from vaecli.io.atomic import timestamp
from vaecli.runs import STATUS_COMPLETED, STATUS_FAILED, STATUS_KILLED, STATUS_RUNNING, RunPaths, update_manifest
from vaecli.runs import read_manifest as read_run_manifest
from vaecli.runs.claims import holder
from vaecli.runtime.tensorflow import THREADS_VARIABLE
from vaecli.sweeps.devices import DevicePool, thread_share
from vaecli.sweeps.live import SweepDisplay, format_duration, read_view
from vaecli.sweeps.plan import SweepPlan, SweepPoint, decide, describe_action
from vaecli.sweeps.record import sweep_folder, write_record

if TYPE_CHECKING:
    from rich.console import Console

POLL_SECONDS = 0.5  # how often the loop looks at its children and redraws the table
STOP_GRACE = 120.0  # seconds a stopped child gets to save its state before SIGKILL


@dataclass
class Child:
    point: SweepPoint
    process: subprocess.Popen
    action: str  # train or resume
    started: float  # time.monotonic()
    asked: bool = False  # SIGINT sent: it is saving its state


def train_command(plan: SweepPlan, point: SweepPoint, action: str, runs_dir: Path) -> list[str]:
    """The `vae train` command of one grid point: the sweep's config with the point's --set values and name."""
    command = [sys.executable, "-m", "vaecli.cli", "train"]
    if action == "resume":
        return [*command, "--resume", str(runs_dir / point.name), "--quiet"]
    for override in plan.fixed + point.overrides:
        command += ["--set", override]
    return [*command, str(plan.config_path), "--name", point.name, "--runs-dir", str(runs_dir), "--quiet"]


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the sweep process dies (Linux); harmless elsewhere."""
    with suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def launch(plan: SweepPlan, point: SweepPoint, action: str, runs_dir: Path, jobs: int, pool: DevicePool) -> Child:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    point.device, point.threads = pool.take(), None
    if point.device is not None:
        environment["CUDA_VISIBLE_DEVICES"] = point.device
        if jobs > len(pool.devices):  # runs share a GPU: each takes memory as it needs it, not all of it
            environment["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    else:  # a CPU-only machine: the runs share its cores instead of each taking them all
        given = os.environ.get(THREADS_VARIABLE, "")  # set by the user: the same threads as another sweep's
        point.threads = int(given) if given.isdigit() and int(given) > 0 else thread_share(jobs)
        environment[THREADS_VARIABLE] = str(point.threads)
    log = sweep_folder(runs_dir, plan.name) / "logs" / f"{point.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    point.log = str(log)
    with open(log, "a") as handle:
        handle.write(f"\n== {timestamp()} {action}: {' '.join(train_command(plan, point, action, runs_dir))}\n")
        handle.flush()
        process = subprocess.Popen(
            train_command(plan, point, action, runs_dir),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,  # its own process group: signals reach it only through us
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    return Child(point, process, action, time.monotonic())


def signal_group(child: Child, signum: int) -> None:
    """Signal the child's whole process group (whatever it started dies with it)."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, signum)


class StopRequest:
    """SIGINT/SIGTERM to the sweep, counted: the first stops the children gently, the second at once."""

    def __init__(self) -> None:
        self.count = 0
        self.first: float | None = None  # time.monotonic() of the first

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self.first = self.first or time.monotonic()


@contextmanager
def stop_signals() -> Iterator[StopRequest]:
    request = StopRequest()
    previous = {signum: signal.signal(signum, request) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def last_log_line(log: str | None) -> str:
    """The last non-empty line of a child's log: its error message when it failed before its manifest says so."""
    with suppress(OSError, TypeError):
        lines = [line.strip() for line in Path(log).read_text(errors="replace").splitlines() if line.strip()]  # type: ignore[arg-type]
        return lines[-1][:300] if lines else ""
    return ""


def settle(child: Child, runs_dir: Path, stopping: bool) -> None:
    """A child has exited: its outcome, from its exit code and its manifest (which this may correct)."""
    point, code = child.point, child.process.returncode
    point.exit_code, point.seconds = code, round(time.monotonic() - child.started, 1)
    paths = RunPaths(runs_dir / point.name)
    status = read_run_manifest(paths).status if paths.manifest.exists() else None
    if holder(paths.root):  # another process trains it now (this child was refused): its manifest is not ours
        point.outcome, point.error = "failed", last_log_line(point.log) or f"exited with code {code}"
        return
    if code == 0 and status == STATUS_COMPLETED:
        point.outcome = "resumed" if child.action == "resume" else "trained"
        return
    if stopping or code == 130:
        point.outcome = "interrupted"
        if status == STATUS_RUNNING:  # stopped before its own handler was in place: say so for it
            update_manifest(paths, status=STATUS_KILLED, ended=timestamp(), error="interrupted")
        return
    point.outcome = "failed"
    if status == STATUS_RUNNING:  # killed from outside (SIGKILL: out of memory?) without a chance to say so
        reason = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        point.error = f"the process {reason} ({'out of memory? ' if code == -9 else ''}see {point.log})"
        update_manifest(paths, status=STATUS_FAILED, ended=timestamp(), error=point.error)
    else:
        error = read_run_manifest(paths).error if status == STATUS_FAILED else None
        point.error = error or last_log_line(point.log) or f"exited with code {code}"


def finished_line(point: SweepPoint) -> str:
    from rich.markup import escape

    took = format_duration(point.seconds)
    if point.outcome == "failed":
        return f"[red]{escape(point.name)} FAILED[/red] after {took}: {escape(point.error or '')}"
    return f"{escape(point.name)} {point.outcome} in {took}"


class Scheduler:
    """Keeps up to `jobs` children running, hands each a device, settles and records each as it ends."""

    def __init__(self, plan: SweepPlan, runs_dir: Path, jobs: int, devices: list[str], details: dict, console: Console):
        self.plan, self.runs_dir, self.jobs, self.details = plan, runs_dir, jobs, details
        self.pool = DevicePool(devices)
        self.waiting: deque[tuple[SweepPoint, str]] = deque()
        self.running: list[Child] = []
        self.states: dict[str, str | None] = {}  # see SweepDisplay
        self.where: dict[str, str] = {}
        self.display = SweepDisplay(plan, runs_dir, console, self.states, self.where)

    def record(self) -> None:
        write_record(self.plan, self.runs_dir, "local", **self.details)

    def queue(self, retry_failed: bool) -> None:
        """Decide every point before anything starts (a conflicting folder stops the sweep here)."""
        for point, action in [(point, decide(point, self.runs_dir, retry_failed)) for point in self.plan.points]:
            self.display.say(f"{point.name}: {describe_action(action)}")
            if action == "skip":
                point.outcome, self.states[point.name] = "skipped", "COMPLETED (skipped)"
            elif action == "failed earlier":
                point.outcome, self.states[point.name] = action, "FAILED earlier"
            elif action == "live":
                point.outcome, self.states[point.name] = "live", "trained by another process"
            else:
                self.waiting.append((point, action))
                self.states[point.name] = "pending"

    def start_next(self) -> None:
        while self.waiting and len(self.running) < self.jobs:
            point, action = self.waiting.popleft()
            child = launch(self.plan, point, action, self.runs_dir, self.jobs, self.pool)
            self.running.append(child)
            self.states[point.name] = "starting"
            threads = f"{point.threads} thread{'s' * (point.threads != 1)}"
            self.where[point.name] = f"GPU {point.device}" if point.device is not None else threads
            self.display.say(f"{point.name}: started ({self.where[point.name]}), log {point.log}")

    def collect(self, stopping: bool) -> None:
        for child in [child for child in self.running if child.process.poll() is not None]:
            settle(child, self.runs_dir, stopping)
            self.pool.give_back(child.point.device)
            self.running.remove(child)
            self.states[child.point.name] = None  # the folder speaks for the run now
            self.display.say(finished_line(child.point))
            self.record()
        for child in self.running:  # a run is RUNNING once its own manifest says so (a resumed one says KILLED first)
            name = child.point.name
            if self.states[name] == "starting" and read_view(RunPaths(self.runs_dir / name)).status == STATUS_RUNNING:
                self.states[name] = None

    def stop(self, request: StopRequest) -> None:
        """Ctrl-C or SIGTERM: no new run starts; the running ones are asked to stop, then made to."""
        self.waiting.clear()
        hard = request.count > 1 or time.monotonic() - (request.first or 0) > STOP_GRACE
        for child in self.running:
            if hard:
                signal_group(child, signal.SIGKILL)
            elif not child.asked:
                signal_group(child, signal.SIGINT)
                child.asked = True

    def run(self, request: StopRequest) -> None:
        self.record()
        while self.waiting or self.running:
            if request.count:
                self.stop(request)
            self.start_next()
            self.collect(stopping=bool(request.count))
            self.display.refresh()
            if self.waiting or self.running:
                time.sleep(POLL_SECONDS)

    def abandon(self) -> None:
        """After an unexpected error in this process: stop every child as Ctrl-C would, and wait for it."""
        request = StopRequest()
        request(signal.SIGINT, None)
        deadline = time.monotonic() + STOP_GRACE
        while self.running:
            if time.monotonic() > deadline:
                request.count = 2
            self.stop(request)
            self.collect(stopping=True)
            time.sleep(POLL_SECONDS)


def run_parallel(
    plan: SweepPlan, runs_dir: Path, jobs: int, devices: list[str], retry_failed: bool, console: Console, details: dict
) -> None:
    """Train the plan's points `jobs` at a time; TrainingInterrupted (exit 130) after Ctrl-C or SIGTERM."""
    scheduler = Scheduler(plan, Path(runs_dir), jobs, devices, details, console)
    scheduler.queue(retry_failed)
    with stop_signals() as request, scheduler.display:
        try:
            scheduler.run(request)
        finally:
            scheduler.abandon()  # nothing left to do after a normal end; after an error, no child outlives us
            scheduler.record()
    if request.count:
        stopped = [point.name for point in plan.points if point.outcome == "interrupted"]
        waiting = [point.name for point in plan.points if point.outcome == "pending"]
        raise TrainingInterrupted(
            f"Interrupted: {len(stopped)} run(s) stopped and marked KILLED with their last checkpoints"
            f"{f', {len(waiting)} not started' if waiting else ''}.",
            "Run the same command again to carry on (COMPLETED runs are skipped, the others resumed).",
        )
