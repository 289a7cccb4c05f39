"""train.strategy: multi_worker — two local CPU workers train one model together; only the chief writes.

Each worker runs in its own directory, as on two machines, with a ``TF_CONFIG`` naming
both on localhost ports: the launch a Slurm script, Ray Train or a person would do.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from src.training.cluster import answers

from tests.conftest import ROOT, make_prepared, tiny_params

OUTPUTS = ("models", "metrics", "plots")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def start_worker(workdir: Path, cluster: dict, index: int, params: dict, job: str = "worker") -> subprocess.Popen:
    """``python -m src.stages.train`` as task ``index`` of ``cluster``, in its own directory as on its own machine."""
    make_prepared(workdir / "data/prepared")
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": job, "index": index}})}
    return subprocess.Popen([sys.executable, "-m", "src.stages.train", "--variant", "se", "--seed", "0"], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # two training processes on localhost
def test_two_workers_train_in_step_and_only_the_chief_writes(tmp_path: Path):
    params = tiny_params(strategy="multi_worker", epochs=2)
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    procs = [start_worker(tmp_path / f"machine{index}", cluster, index, params) for index in range(2)]
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            raise
        assert proc.returncode == 0, err[-3000:]
        results.append(out)

    chief, worker = tmp_path / "machine0", tmp_path / "machine1"
    metrics = json.loads((chief / "metrics/train/smoke/se/seed0.json").read_text())
    assert metrics["workers"] == 2 and metrics["epochs"] == 2
    assert (chief / "models/smoke/se/seed0.keras").is_file() and (chief / "plots/train/smoke/se/seed0").is_dir()
    assert not [name for name in OUTPUTS if (worker / name).exists()], "a non-chief worker wrote outputs"
    assert not [p for p in (worker / "checkpoints").rglob("*") if p.is_file()]  # its backup is gone too
    # Both workers hold the same synchronised model: the same validation accuracy, to the digit.
    accuracies = [re.search(r"best val accuracy ([\d.]+)", out).group(1) for out in results]
    assert "worker-0" in results[0] and "worker-1" in results[1]
    assert accuracies[0] == accuracies[1] == f"{metrics['best_val_accuracy']:.4f}"


def finish(proc: subprocess.Popen, within: float) -> tuple[float, str]:
    """Seconds until ``proc`` ended (it must within ``within``) and its stderr."""
    start = time.monotonic()
    try:
        _, err = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the worker did not end within {within} s") from None
    return time.monotonic() - start, err


def assert_one_error_line(err: str) -> str:
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err[-3000:]
    return errors[0]


def wait_for_line(proc: subprocess.Popen, text: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if text in line:
            return
        assert line or proc.poll() is None, f"the worker ended before printing {text!r}"
    raise AssertionError(f"no {text!r} within {within} s")


def two_worker_cluster() -> dict:
    return {"worker": [f"localhost:{port}" for port in free_ports(2)]}


def test_multi_worker_without_tf_config_is_one_line(tmp_path: Path):
    make_prepared(tmp_path / "data/prepared")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(strategy="multi_worker")))
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    proc = subprocess.run([sys.executable, "-m", "src.stages.train", "--variant", "se", "--seed", "0"], cwd=tmp_path,
                          env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "TF_CONFIG is not set" in assert_one_error_line(proc.stderr)


@pytest.mark.parametrize("index", [0, 1])
def test_a_worker_whose_peer_never_starts_exits_at_its_deadline_naming_it(tmp_path: Path, index: int):
    cluster = two_worker_cluster()
    proc = start_worker(tmp_path, cluster, index, tiny_params(strategy="multi_worker", cluster_timeout_seconds=2))
    seconds, err = finish(proc, within=60)
    assert proc.returncode == 2 and seconds < 30  # no TensorFlow loaded: the deadline is most of it
    line = assert_one_error_line(err)
    peer = 1 - index
    assert f"did not form within 2 s (train.cluster_timeout_seconds): no answer from worker {peer} at " \
           f"{cluster['worker'][peer]}" in line
    assert not (tmp_path / "models").exists() and not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_a_worker_waiting_for_its_peer(tmp_path: Path, stop: signal.Signals):
    proc = start_worker(tmp_path, two_worker_cluster(), 0, tiny_params(strategy="multi_worker"))
    wait_for_line(proc, "waiting up to 120 s")
    proc.send_signal(stop)
    seconds, err = finish(proc, within=10)
    assert proc.returncode == 128 + stop
    assert f"worker-0 stopped by {stop.name} while waiting for the cluster" in assert_one_error_line(err)


@pytest.fixture
def peer_that_never_joins():
    """A socket listening on worker 1's port: worker 0 sees its peer answer, but no TensorFlow ever joins."""
    cluster = two_worker_cluster()
    with socket.socket() as impostor:
        impostor.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        impostor.bind(("127.0.0.1", int(cluster["worker"][1].rpartition(":")[2])))
        impostor.listen(64)
        yield cluster


def wait_until_tensorflow_holds_the_port(proc: subprocess.Popen, address: str) -> None:
    """The supervisor's own listener closes when the training starts; TensorFlow's server then opens the port
    and waits, in C++, for worker 1 to register."""
    wait_for_line(proc, "waiting up to")
    deadline, closed = time.monotonic() + 120, False
    while time.monotonic() < deadline and proc.poll() is None:
        if not answers(address, timeout=0.2):
            closed = True
        elif closed:
            time.sleep(1)  # into the blocking registration
            return
        time.sleep(0.05)
    raise AssertionError("TensorFlow never opened the worker's port")


@pytest.mark.slow  # TensorFlow starts in the worker
def test_a_cluster_that_does_not_form_in_tensorflow_ends_at_the_deadline(tmp_path: Path, peer_that_never_joins):
    cluster = peer_that_never_joins
    proc = start_worker(tmp_path, cluster, 0, tiny_params(strategy="multi_worker", cluster_timeout_seconds=3))
    seconds, err = finish(proc, within=180)  # loading TensorFlow does not count against the deadline
    assert proc.returncode == 2
    assert f"worker 1 at {cluster['worker'][1]} answered but did not join" in assert_one_error_line(err)


@pytest.mark.slow  # TensorFlow starts in the worker
def test_sigterm_ends_a_worker_blocked_in_tensorflow(tmp_path: Path, peer_that_never_joins):
    cluster = peer_that_never_joins
    proc = start_worker(tmp_path, cluster, 0, tiny_params(strategy="multi_worker"))
    wait_until_tensorflow_holds_the_port(proc, cluster["worker"][0])
    proc.send_signal(signal.SIGTERM)
    seconds, err = finish(proc, within=10)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "worker-0 stopped by SIGTERM while training" in assert_one_error_line(err)
    assert not answers(cluster["worker"][0])  # the training child is gone too


@pytest.mark.slow  # two tiny trainings
def test_a_one_worker_cluster_trains_stops_on_sigterm_and_resumes(tmp_path: Path):
    cluster = {"worker": [f"localhost:{free_ports(1)[0]}"]}
    params = tiny_params(strategy="multi_worker", epochs=4)
    proc = start_worker(tmp_path, cluster, 0, params)
    meta = tmp_path / "checkpoints/smoke/se/seed0/training_metadata.json"
    deadline = time.monotonic() + 300
    while not meta.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    seconds, err = finish(proc, within=10)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "worker-0 stopped by SIGTERM while training" in assert_one_error_line(err)

    proc = start_worker(tmp_path, cluster, 0, params)
    seconds, err = finish(proc, within=300)
    assert proc.returncode == 0, err[-3000:]
    metrics = json.loads((tmp_path / "metrics/train/smoke/se/seed0.json").read_text())
    assert metrics["workers"] == 1 and metrics["epochs"] == 4 and metrics["resumed_from_epoch"] >= 1
