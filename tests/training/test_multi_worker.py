"""train.strategy: multi_worker — two local CPU workers train one model together; only the chief writes.

Each worker runs in its own directory, as on two machines, with a ``TF_CONFIG`` naming
both on localhost ports: the launch a Slurm script, Ray Train or a person would do.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


@pytest.mark.slow  # two training processes on localhost
def test_two_workers_train_in_step_and_only_the_chief_writes(tmp_path: Path):
    params = tiny_params(strategy="multi_worker", epochs=2)
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    procs = []
    for index in range(2):
        workdir = tmp_path / f"machine{index}"
        make_prepared(workdir / "data/prepared")
        (workdir / "params.yaml").write_text(yaml.safe_dump(params))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen([sys.executable, "-m", "src.train", "--variant", "se", "--seed", "0"], cwd=workdir, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
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
    metrics = json.loads((chief / "metrics/train/se/seed0.json").read_text())
    assert metrics["workers"] == 2 and metrics["epochs"] == 2
    assert (chief / "models/se/seed0.keras").is_file() and (chief / "plots/train/se/seed0").is_dir()
    assert not [name for name in OUTPUTS if (worker / name).exists()], "a non-chief worker wrote outputs"
    assert not [p for p in (worker / "checkpoints").rglob("*") if p.is_file()]  # its backup is gone too
    # Both workers hold the same synchronised model: the same validation accuracy, to the digit.
    accuracies = [re.search(r"best val accuracy ([\d.]+)", out).group(1) for out in results]
    assert "worker-0" in results[0] and "worker-1" in results[1]
    assert accuracies[0] == accuracies[1] == f"{metrics['best_val_accuracy']:.4f}"
