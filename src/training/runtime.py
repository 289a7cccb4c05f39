"""The run's hardware-facing choices: precision, distribution strategy, seeds, and what ran where.

``choose_precision("auto")`` picks ``mixed_bfloat16`` only where the device computes
bfloat16 natively (a CPU with AVX512-BF16 or AMX, a GPU of compute capability 8.0 or
later); elsewhere bfloat16 is emulated and measured about 2x *slower* than float32
(docs/history.md), so it picks float32. The choice and its reason go into the
training metrics.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from src.core.errors import ClusterError
from src.training.cluster import report_cluster_formed, report_cluster_forming

NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
BF16_GPU_COMPUTE_CAPABILITY = (8, 0)


def cpu_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> set[str]:
    """The instruction-set flags the CPU reports (empty where /proc/cpuinfo is not there)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_name(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str:
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_compute_capabilities() -> list[tuple[int, int]]:
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        capabilities.append(tuple(capability) if capability else (0, 0))
    return capabilities


@dataclass(frozen=True)
class Precision:
    """The Keras dtype policy in force and why it was chosen."""

    policy: str
    reason: str


def choose_precision(requested: str, flags: set[str] | None = None,
                     gpu_capabilities: list[tuple[int, int]] | None = None) -> Precision:
    """Resolve ``train.precision`` ("auto", "float32" or "mixed_bfloat16") for this machine."""
    if requested != "auto":
        return Precision(requested, "set in params (train.precision)")
    gpus = _gpu_compute_capabilities() if gpu_capabilities is None else gpu_capabilities
    if gpus:
        oldest = min(gpus)
        if oldest >= BF16_GPU_COMPUTE_CAPABILITY:
            return Precision("mixed_bfloat16", f"GPU compute capability {oldest[0]}.{oldest[1]} computes bfloat16")
        return Precision("float32", f"GPU compute capability {oldest[0]}.{oldest[1]} < 8.0: no native bfloat16")
    flags = cpu_flags() if flags is None else flags
    native = sorted(set(NATIVE_BF16_CPU_FLAGS) & flags)
    if native:
        return Precision("mixed_bfloat16", f"CPU has {' and '.join(native)}")
    return Precision("float32", "CPU has neither avx512_bf16 nor amx_bf16: bfloat16 would be emulated, about 2x slower")


def configure_runtime(seed: int, policy: str) -> None:
    """Seed every RNG, make TF ops deterministic and set the dtype policy (a resolved one, not "auto")."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(policy)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``default``: the one local device; ``mirrored``: all local GPUs (or the CPU);
    ``multi_worker``: data-parallel over the processes in ``TF_CONFIG``. Create it before any other TF work."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        report_cluster_forming()
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except tf.errors.OpError as exc:  # e.g. a peer that answered its port but never registered
            raise ClusterError(f"the training cluster did not form: {exc.message.splitlines()[0]}") from None
        report_cluster_formed()
        return strategy
    return tf.distribute.get_strategy()


def environment(data_source: str, precision: Precision) -> dict:
    """What ran the training: CPU, cores, GPUs, library versions, data source, precision and why."""
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "gpus": len(tf.config.list_physical_devices("GPU")),
            "tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version(),
            "data_source": data_source, "precision": precision.policy, "precision_reason": precision.reason}
