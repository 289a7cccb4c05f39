"""TF_CONFIG is checked before training: each mistake is one ClusterError naming it; peers are awaited to a deadline."""
from __future__ import annotations

import json
import socket
import time

import pytest

from src.core.errors import ClusterError
from src.training.cluster import Cluster, cluster_from_env, hold_own_port, wait_for_peers

WORKERS = {"worker": ["localhost:12345", "localhost:12346"]}


def test_cluster_from_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert cluster_from_env() == Cluster(None, 0, 1) and Cluster(None, 0, 1).is_chief
    workers = {"worker": ["a:1", "b:1", "c:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": workers, "task": {"type": "worker", "index": 0}}))
    assert cluster_from_env().is_chief and cluster_from_env().workers == 3
    assert cluster_from_env().peers == [("worker-1", "b:1"), ("worker-2", "c:1")]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": workers, "task": {"type": "worker", "index": 2}}))
    assert not cluster_from_env().is_chief and cluster_from_env().name == "worker-2"
    assert cluster_from_env().address == "c:1"
    with_chief = {"chief": ["a:1"], "worker": ["b:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}}))
    assert not cluster_from_env().is_chief and cluster_from_env().workers == 2
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": with_chief, "task": {"type": "chief", "index": 0}}))
    assert cluster_from_env().is_chief
    one = {"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(one))
    assert cluster_from_env(required=True).workers == 1 and cluster_from_env().peers == []


@pytest.mark.parametrize("tf_config, message", [
    (None, "train.strategy is multi_worker but TF_CONFIG is not set"),
    ("  ", "TF_CONFIG is not set"),
    ('{"cluster": ', "TF_CONFIG is not valid JSON"),
    ("[1, 2]", 'TF_CONFIG has no "cluster"'),
    (json.dumps({"task": {"type": "worker", "index": 0}}), 'TF_CONFIG has no "cluster"'),
    (json.dumps({"cluster": WORKERS}), 'TF_CONFIG has no "task"'),
    (json.dumps({"cluster": WORKERS, "task": "worker"}), 'TF_CONFIG has no "task"'),
    (json.dumps({"cluster": WORKERS, "task": {"type": "worker", "index": 2}}),
     "TF_CONFIG task index 2 is beyond the 2 worker address(es) of its cluster; it must be an integer from 0 to 1"),
    (json.dumps({"cluster": WORKERS, "task": {"type": "worker", "index": -1}}), "task index -1 is beyond"),
    (json.dumps({"cluster": WORKERS, "task": {"type": "worker", "index": "1"}}), "task index '1' is beyond"),
    (json.dumps({"cluster": WORKERS, "task": {"type": "chief", "index": 0}}),
     "TF_CONFIG task type 'chief' is not a job of its cluster (worker)"),
    (json.dumps({"cluster": {**WORKERS, "ps": ["localhost:2"]}, "task": {"type": "worker", "index": 0}}),
     "cluster job 'ps' is not supported"),
    (json.dumps({"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}), "cluster worker = [] is invalid"),
    (json.dumps({"cluster": {"chief": ["a:1", "b:1"]}, "task": {"type": "chief", "index": 0}}),
     "it must be a list of one host:port"),
    (json.dumps({"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}),
     "address 'localhost' of worker 0 is invalid"),
    (json.dumps({"cluster": {"worker": ["localhost:70000"]}, "task": {"type": "worker", "index": 0}}),
     "address 'localhost:70000' of worker 0 is invalid"),
    (json.dumps({"cluster": {"worker": ["h:1", "H:1"]}, "task": {"type": "worker", "index": 0}}),
     "TF_CONFIG lists H:1 twice (worker 0 and worker 1); each task needs its own port"),
    (json.dumps({"cluster": {"chief": ["h:1"], "worker": ["h:1"]}, "task": {"type": "worker", "index": 0}}),
     "lists h:1 twice (chief 0 and worker 0)"),
])
def test_a_bad_tf_config_is_one_line_naming_the_problem(monkeypatch, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ClusterError) as error:
        cluster_from_env(required=True)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_port_in_use_is_named():
    with socket.socket() as other:
        other.bind(("", 0))
        other.listen()
        port = other.getsockname()[1]
        cluster = Cluster("worker", 1, 2, addresses=(("worker-0", "localhost:1"), ("worker-1", f"localhost:{port}")))
        with pytest.raises(ClusterError, match=f"port {port} of worker 1 at localhost:{port} .* is in use"):
            hold_own_port(cluster)


def test_peers_are_awaited_until_the_deadline_and_the_silent_ones_named():
    with socket.socket() as up, socket.socket() as down:
        up.bind(("127.0.0.1", 0))
        up.listen()
        down.bind(("127.0.0.1", 0))  # bound but not listening: nobody answers there
        addresses = (("worker-0", "localhost:1"), ("worker-1", f"127.0.0.1:{up.getsockname()[1]}"),
                     ("worker-2", f"127.0.0.1:{down.getsockname()[1]}"))
        cluster = Cluster("worker", 0, 3, addresses=addresses)
        start = time.monotonic()
        with pytest.raises(ClusterError) as error:
            wait_for_peers(cluster, timeout=1)
        assert 1 <= time.monotonic() - start < 5
        assert f"no answer from worker 2 at 127.0.0.1:{down.getsockname()[1]};" in str(error.value)
        assert "worker 1" not in str(error.value)
        wait_for_peers(Cluster("worker", 0, 2, addresses=addresses[:2]), timeout=1)  # worker 1 answers at once
