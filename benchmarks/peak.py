"""A CPU core's nominal peak FLOP/s for a precision, from its instruction-set flags and clock.

The benchmarks divide measured FLOP/s by this to give a share of peak. Nominal means
vector lanes x 2 (a fused multiply-add is two FLOPs) x FMA units x the clock that
/proc/cpuinfo reports: turbo, thermal limits and the hypervisor move the real ceiling,
so the share is a guide to where a step's time goes, not a precise efficiency.

FLOPs per cycle and core, by the widest unit the flags and the precision allow:
- AMX-BF16 tiles (bfloat16): 1024
- AVX512-BF16 dot products (bfloat16): 128 on 512-bit datapaths (Intel, AMD Zen 5), 64 on
  Zen 4, which runs 512-bit instructions as two 256-bit halves
- AVX-512 FMA (float32): 64, or 32 on Zen 4
- AVX2 FMA (float32): 32 (two 256-bit FMA units)
- bfloat16 without native support is emulated in float32 code: the float32 figure.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from src.training.runtime import cpu_flags

@dataclass(frozen=True)
class Peak:
    """A nominal per-core peak and how it was derived."""

    flops_per_second: float
    unit: str
    flops_per_cycle: int
    ghz: float

    def describe(self) -> str:
        return (f"{self.flops_per_second / 1e9:.0f} GFLOP/s per core nominal ({self.unit}, "
                f"{self.flops_per_cycle} FLOP/cycle x {self.ghz:.2f} GHz)")


def _cpuinfo_field(name: str, cpuinfo: str | os.PathLike) -> str | None:
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.split(":", 1)[0].strip() == name:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _half_width_avx512(cpuinfo: str | os.PathLike) -> bool:
    """AMD family 25 with AVX-512 is Zen 4 (Zen 3 has none), which runs 512-bit instructions on 256-bit units."""
    return _cpuinfo_field("vendor_id", cpuinfo) == "AuthenticAMD" and _cpuinfo_field("cpu family", cpuinfo) == "25"


def core_peak(policy: str, cpuinfo: str | os.PathLike = "/proc/cpuinfo", flags: set[str] | None = None) -> Peak:
    """The nominal peak of one core computing the convolutions of ``policy`` ("float32" or "mixed_bfloat16")."""
    flags = cpu_flags(cpuinfo) if flags is None else flags
    mhz = _cpuinfo_field("cpu MHz", cpuinfo)
    ghz = float(mhz) / 1000 if mhz else float("nan")
    half = _half_width_avx512(cpuinfo)
    if policy == "mixed_bfloat16" and "amx_bf16" in flags:
        unit, per_cycle = "AMX-BF16", 1024
    elif policy == "mixed_bfloat16" and "avx512_bf16" in flags:
        unit, per_cycle = "AVX512-BF16", 64 if half else 128
    elif "avx512f" in flags:
        unit, per_cycle = "AVX-512 FMA float32", 32 if half else 64
    elif "fma" in flags:
        unit, per_cycle = "AVX2 FMA float32", 32
    else:
        unit, per_cycle = "SSE float32", 8
    return Peak(per_cycle * ghz * 1e9, unit, per_cycle, ghz)
