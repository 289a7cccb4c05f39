"""A multi-worker run's cluster: ``TF_CONFIG`` checked up front, peers awaited with a deadline, signals obeyed.

TensorFlow forms the cluster inside ``MultiWorkerMirroredStrategy()`` and its collective
ops, in C++ that holds Python's GIL: a worker whose peer never comes waits there for ever,
and neither SIGTERM handlers nor watchdog threads get to run. So the stage process does not
train itself. It validates ``TF_CONFIG`` (one line per mistake, the port named), holds its
own port open while it waits for every peer to answer on theirs (``train.cluster_timeout_seconds``),
and only then starts the training as a child process (``supervise``), which reports back
once TensorFlow has formed the cluster. The supervisor never imports TensorFlow, so it
stays responsive: a peer missing at the deadline, a cluster that does not form in the same
time, SIGTERM or SIGINT each end the child and exit with one ``error:`` line.
"""
from __future__ import annotations

import errno
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from src.core.errors import ClusterError

JOBS = ("chief", "worker")  # the tasks that train; parameter servers and evaluators are not supported
EXAMPLE = ('{"cluster": {"worker": ["host-a:12345", "host-b:12345"]}, "task": {"type": "worker", "index": 0}}')
FIX = f"set TF_CONFIG on every worker like {EXAMPLE} (README, \"Scaling out\")"
# The child reports when TensorFlow starts forming the cluster and when it has, on this inherited file descriptor.
READY_FD_VARIABLE = "TRAIN_CLUSTER_READY_FD"
FORMING, FORMED = b"1", b"2"
PROBE_INTERVAL_SECONDS = 0.5
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_GRACE_SECONDS = 3  # after SIGTERM, before SIGKILL: well inside the 10 s a stop may take


@dataclass(frozen=True)
class Cluster:
    """This process's place in a (possibly one-process) training cluster."""

    task_type: str | None
    task_id: int
    workers: int
    has_chief_task: bool = False
    addresses: tuple[tuple[str, str], ...] = ()  # (task name, host:port) of every task, in TF_CONFIG order

    @property
    def is_chief(self) -> bool:
        """Writes models, metrics and plots: the ``chief`` task, else worker 0, else the only process."""
        return self.task_type in (None, "chief") or (self.task_type == "worker" and self.task_id == 0
                                                     and not self.has_chief_task)

    @property
    def name(self) -> str:
        return "single" if self.task_type is None else f"{self.task_type}-{self.task_id}"

    @property
    def address(self) -> str:
        return dict(self.addresses)[self.name]

    @property
    def peers(self) -> list[tuple[str, str]]:
        return [(name, address) for name, address in self.addresses if name != self.name]


def _describe(name: str, address: str) -> str:
    return f"{name.replace('-', ' ')} at {address}"


def _port(address: str) -> int | None:
    host, sep, port = address.rpartition(":")
    return int(port) if sep and host and port.isdigit() and 1 <= int(port) <= 65535 else None


def cluster_from_env(required: bool = False) -> Cluster:
    """This process's task from ``TF_CONFIG`` (set by Slurm scripts, Ray Train or by hand).

    Unset, it is a one-process run, unless ``required`` (``train.strategy: multi_worker``).
    Raises ``ClusterError`` naming the first problem: bad JSON, no cluster or task, a job
    that does not train, a malformed or repeated address, a task index outside its job.
    """
    raw = os.environ.get("TF_CONFIG", "")
    if not raw.strip():
        if required:
            raise ClusterError(f"train.strategy is multi_worker but TF_CONFIG is not set; {FIX}, "
                               "or set train.strategy: default")
        return Cluster(None, 0, 1)
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise ClusterError(f"TF_CONFIG is not valid JSON ({exc}); {FIX}") from None
    spec = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(spec, dict) or not spec:
        raise ClusterError(f"TF_CONFIG has no \"cluster\" of task addresses; {FIX}")
    for job, addresses in spec.items():
        if job not in JOBS:
            raise ClusterError(f"TF_CONFIG cluster job {job!r} is not supported; multi_worker trains with "
                               f"{' and '.join(JOBS)} tasks only")
        if not isinstance(addresses, list) or not addresses or (job == "chief" and len(addresses) > 1):
            allowed = "a list of one host:port" if job == "chief" else "a non-empty list of host:port"
            raise ClusterError(f"TF_CONFIG cluster {job} = {addresses!r} is invalid; it must be {allowed}")
    tasks = [(f"{job}-{index}", address) for job in JOBS for index, address in enumerate(spec.get(job, []))]
    seen: dict[str, str] = {}
    for name, address in tasks:
        if not isinstance(address, str) or _port(address) is None:
            raise ClusterError(f"TF_CONFIG address {address!r} of {name.replace('-', ' ')} is invalid; "
                               "it must be host:port with a port from 1 to 65535")
        if address.lower() in seen:
            raise ClusterError(f"TF_CONFIG lists {address} twice ({seen[address.lower()].replace('-', ' ')} and "
                               f"{name.replace('-', ' ')}); each task needs its own port")
        seen[address.lower()] = name
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task:
        raise ClusterError("TF_CONFIG has no \"task\"; add {\"type\": \"worker\", \"index\": N} naming this "
                           "machine's place in the cluster")
    task_type, index = task["type"], task.get("index", 0)
    if task_type not in spec:
        raise ClusterError(f"TF_CONFIG task type {task_type!r} is not a job of its cluster ({', '.join(spec)})")
    count = len(spec[task_type])
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
        raise ClusterError(f"TF_CONFIG task index {index!r} is beyond the {count} {task_type} address(es) of its "
                           f"cluster; it must be an integer from 0 to {count - 1}")
    return Cluster(task_type, index, len(tasks), has_chief_task=bool(spec.get("chief")), addresses=tuple(tasks))


def hold_own_port(cluster: Cluster) -> socket.socket:
    """Listen on this task's port, so peers see it is up; a port another process holds is named."""
    port = _port(cluster.address)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection's TIME_WAIT is no owner
    try:
        listener.bind(("", port))
    except OSError as exc:
        listener.close()
        reason = "is in use by another process" if exc.errno == errno.EADDRINUSE else f"cannot be opened ({exc})"
        raise ClusterError(f"port {port} of {_describe(cluster.name, cluster.address)} (TF_CONFIG) {reason}; "
                           "stop that process or give this task another port in every worker's TF_CONFIG") from None
    listener.listen(64)
    return listener


def answers(address: str, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    host = address.rpartition(":")[0].strip("[]")
    try:
        with socket.create_connection((host, _port(address)), timeout=timeout):
            return True
    except OSError:
        return False


def _missing(peers: list[tuple[str, str]]) -> str:
    return ", ".join(_describe(name, address) for name, address in peers)


def wait_for_peers(cluster: Cluster, timeout: float) -> None:
    """Return once every peer answers on its port; ``ClusterError`` naming the silent ones after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    silent = cluster.peers
    if silent:
        print(f"train: {cluster.name} waiting up to {timeout:g} s (train.cluster_timeout_seconds) for "
              f"{_missing(silent)}", file=sys.stderr, flush=True)
    while silent:
        silent = [(name, address) for name, address in silent if not answers(address)]
        if silent and time.monotonic() >= deadline:
            raise ClusterError(f"the training cluster did not form within {timeout:g} s "
                               f"(train.cluster_timeout_seconds): no answer from {_missing(silent)}; start every "
                               "worker with the same TF_CONFIG cluster, each with its own task index")
        if silent:
            time.sleep(PROBE_INTERVAL_SECONDS)


class Stopped(Exception):
    """SIGTERM or SIGINT reached the supervisor."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum, frame):
    for stop in STOP_SIGNALS:  # a second Ctrl-C must not interrupt the stopping
        signal.signal(stop, signal.SIG_IGN)
    raise Stopped(signum)


def supervise(cluster: Cluster, timeout: float, command: list[str]) -> int:
    """Wait for the peers, run ``command`` (the training) as a child, and return the exit code of the stage.

    The child must report through ``report_cluster_formed`` within ``timeout`` s of its
    ``report_cluster_forming``, else it is ended and the error names the peers that do not
    answer (or, if all do, that one of them did not join). SIGTERM and SIGINT end the child
    (SIGKILL after ``STOP_GRACE_SECONDS``) and the stage with exit code 128 + the signal.
    """
    previous = {s: signal.signal(s, _raise_stopped) for s in STOP_SIGNALS}
    child = None
    try:
        with hold_own_port(cluster):
            wait_for_peers(cluster, timeout)
        ready_read, ready_write = os.pipe()
        child = subprocess.Popen(command, env={**os.environ, READY_FD_VARIABLE: str(ready_write)},
                                 pass_fds=(ready_write,), preexec_fn=_die_with_parent)
        os.close(ready_write)
        with os.fdopen(ready_read, "rb") as ready:
            if not _formed(child, ready.fileno(), timeout):
                _end(child)
                silent = [(name, address) for name, address in cluster.peers if not answers(address)]
                why = (f"no answer from {_missing(silent)}" if silent else
                       f"{_missing(cluster.peers)} answered but did not join (a worker that failed after starting, "
                       "or one with another TF_CONFIG)")
                raise ClusterError(f"the training cluster did not form within {timeout:g} s of TensorFlow's start "
                                   f"(train.cluster_timeout_seconds): {why}")
        code = child.wait()
        if code < 0:  # killed by a signal not sent here, e.g. by the kernel when memory ran out
            print(f"error: train: the training process of {cluster.name} was killed by "
                  f"{signal.Signals(-code).name}", file=sys.stderr)
            return 128 - code
        return code
    except Stopped as stop:
        if child is not None:
            _end(child)
        stage = "training" if child is not None else "waiting for the cluster"
        print(f"error: train: {cluster.name} stopped by {stop} while {stage}; a run stopped after an epoch "
              "resumes from it when the stage runs again", file=sys.stderr)
        return 128 + stop.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _formed(child: subprocess.Popen, ready: int, timeout: float) -> bool:
    """Whether the cluster formed (or the child ended, which says all) within ``timeout`` s of TensorFlow trying.

    The time the child takes to load TensorFlow and the data does not count: a busy machine
    is no missing peer.
    """
    deadline = None
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not select.select([ready], [], [], wait)[0]:
            return False
        news = os.read(ready, 16)
        if FORMED in news or not news:
            return True
        if FORMING in news:
            deadline = time.monotonic() + timeout


def _end(child: subprocess.Popen) -> None:
    child.terminate()
    try:
        child.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()  # blocked in TensorFlow's C++, where SIGTERM waits for the GIL
        child.wait()


def _die_with_parent() -> None:
    """In the child: SIGTERM when the supervisor dies (even by SIGKILL), so no training is orphaned (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_as_supervised_child() -> bool:
    """In the training child: True; it leaves SIGINT (sent to the whole terminal group) to the supervisor."""
    if READY_FD_VARIABLE not in os.environ:
        return False
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return True


def report_cluster_forming() -> None:
    """Tell the supervisor (if any) that TensorFlow starts forming the cluster: its deadline runs from now."""
    fd = os.environ.get(READY_FD_VARIABLE)
    if fd is not None:
        os.write(int(fd), FORMING)


def report_cluster_formed() -> None:
    """Tell the supervisor (if any) that TensorFlow formed the cluster: its deadline no longer applies."""
    fd = os.environ.pop(READY_FD_VARIABLE, None)
    if fd is not None:
        os.write(int(fd), FORMED)
        os.close(int(fd))
