"""Precision follows the hardware."""
from __future__ import annotations

import pytest

from src.training.runtime import choose_precision, cpu_flags, cpu_name

ZEN3 = "fpu vme sse sse2 avx f16c avx2 fma bmi2 sha_ni vaes"
SAPPHIRE_RAPIDS = ZEN3 + " avx512f avx512_bf16 amx_bf16 amx_tile"


@pytest.fixture
def cpuinfo(tmp_path):
    def write(flags: str, name: str = "Some CPU"):
        path = tmp_path / "cpuinfo"
        path.write_text(f"processor\t: 0\nmodel name\t: {name}\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
        return path
    return write


def test_cpu_flags_and_name_are_read_from_cpuinfo(cpuinfo):
    path = cpuinfo(SAPPHIRE_RAPIDS, "Intel(R) Xeon(R) Platinum 8481C")
    assert {"avx2", "amx_bf16", "avx512_bf16"} <= cpu_flags(path)
    assert cpu_name(path) == "Intel(R) Xeon(R) Platinum 8481C"
    assert cpu_flags(path.parent / "absent") == set()


@pytest.mark.parametrize("flags, policy, reason", [
    (ZEN3, "float32", "neither avx512_bf16 nor amx_bf16"),
    (ZEN3 + " avx512_bf16", "mixed_bfloat16", "CPU has avx512_bf16"),
    (SAPPHIRE_RAPIDS, "mixed_bfloat16", "CPU has amx_bf16 and avx512_bf16"),
])
def test_auto_takes_bfloat16_only_where_the_cpu_computes_it(cpuinfo, flags, policy, reason):
    chosen = choose_precision("auto", flags=cpu_flags(cpuinfo(flags)), gpu_capabilities=[])
    assert chosen.policy == policy and reason in chosen.reason


@pytest.mark.parametrize("capabilities, policy", [([(8, 0)], "mixed_bfloat16"), ([(9, 0), (7, 5)], "float32"),
                                                  ([(7, 0)], "float32")])
def test_auto_on_gpus_follows_the_oldest_compute_capability(capabilities, policy):
    # A GPU decides, whatever the host CPU offers.
    assert choose_precision("auto", flags=set(SAPPHIRE_RAPIDS.split()), gpu_capabilities=capabilities).policy == policy


@pytest.mark.parametrize("requested", ["float32", "mixed_bfloat16"])
def test_an_explicit_precision_is_kept(requested):
    chosen = choose_precision(requested, flags=set(), gpu_capabilities=[])
    assert chosen.policy == requested and "set in params" in chosen.reason


def test_this_machine_gets_a_precision_with_a_reason():
    chosen = choose_precision("auto")
    assert chosen.policy in ("float32", "mixed_bfloat16") and chosen.reason
