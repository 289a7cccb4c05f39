"""Where a training step's time goes: TensorFlow's op-level profile of real steps, grouped by kind.

    taskset -c 0 python -m benchmarks.step_breakdown --profile cpu --variants original cbam
    python -m benchmarks.step_breakdown --profile cpu -S model.width=48 --steps 10

A few training steps of each variant (the params' model, optimizer and precision, on
synthetic data of CIFAR shape) run under ``tf.profiler``; the ops' self times are
grouped by the first rule of ``CATEGORIES`` that matches their name or type
(attention first, by the layer names ``src/models/resnet.py`` gives the gates), as
shares of the ops' summed time. Ops run side by side on several threads, so that sum
can exceed the step's wall time (measured without the profiler); their ratio, printed
as "op time / wall", is the parallelism the executor reached. The input pipeline is not
in the step (tf.data prepares batches ahead, see ``benchmarks.throughput``).

The last lines give the step's FLOP/s (3 x forward FLOPs per image) and its share of
the nominal peak (``benchmarks/peak.py``), and the same for the convolutions alone
(their FLOPs over their time): how far the matrix units are from full, and whether
the rest of the step or the convolutions themselves are the larger loss.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import tempfile
import time
from collections import defaultdict

import numpy as np
import tensorflow as tf
from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as profiler_tools

from benchmarks.args import positive_int
from benchmarks.peak import core_peak
from benchmarks.recipe_search import apply_overrides
from src.core.errors import stage_main
from src.config.params import VARIANTS, first_regime, load_params, regime_params
from src.config.profile import build_profile
from src.models.flops import flops_per_image
from src.models.resnet import build_variant
from src.training.optim import compile_model
from src.training.runtime import choose_precision, configure_runtime, cpu_name

# (category, regex on "type operation-name"), first match wins.
CATEGORIES: list[tuple[str, str]] = [
    # Keras scopes a layer's ops as <model>/<layer>[_k]/...: a gate is the layer block<B>_<kind>.
    ("attention (SE/CBAM gates)", r"block\d+_(se|cbam)(_\d+)?/"),
    ("optimizer update", r"(?i)ResourceApply|/(sgd|adam|optimizer|multi_optimizer)/|AssignSub|AssignAdd"),
    ("convolution backward", r"Conv2DBackprop|MatMul.*gradient_tape|gradient_tape.*MatMul"),
    ("convolution forward", r"Conv2D|Conv3D|MatMul|Einsum|_FusedConv"),
    ("batch norm", r"FusedBatchNorm|batchnorm|_bn(_\d+)?/"),
    ("elementwise (ReLU, add, casts)", r"Relu|AddV2|AddN|Add |Mul |Cast|Sub |Maximum|Sigmoid|Select|BiasAdd"),
    ("layout and copies (pad, slice, transpose)", r"Pad|Slice|Transpose|Reshape|Concat|Tile|Gather|Identity|Pack"),
    ("pooling and reductions", r"Mean|Sum|Max|Pool"),
]
OTHER = "other ops"


def categorise(op_type: str, name: str) -> str:
    text = f"{op_type} {name}"
    return next((category for category, rule in CATEGORIES if re.search(rule, text)), OTHER)


def op_self_times(trace_dir: str) -> list[tuple[str, str, float]]:
    """(type, name, self time in µs) of every op the profiler recorded, idle time excluded."""
    xplanes = glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)
    data, _ = profiler_tools.xspace_to_tools_data(xplanes, "framework_op_stats")
    table = json.loads(data)[0]
    columns = [c["id"] for c in table["cols"]]
    rows = [dict(zip(columns, (cell.get("v") for cell in row["c"]))) for row in table["rows"]]
    return [(r["type"], r["operation"], float(r["total_self_time"])) for r in rows if r["type"] != "IDLE"]


def breakdown(model, images, labels, steps: int) -> tuple[float, dict[str, float]]:
    """Wall seconds per step (unprofiled), and per category the ops' self seconds per step (profiled)."""
    for _ in range(3):
        model.train_on_batch(images, labels)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    wall = (time.perf_counter() - start) / steps
    with tempfile.TemporaryDirectory(prefix="step-profile-") as trace_dir:
        tf.profiler.experimental.start(trace_dir)
        for _ in range(steps):
            model.train_on_batch(images, labels)
        tf.profiler.experimental.stop()
        ops = op_self_times(trace_dir)
    seconds: dict[str, float] = defaultdict(float)
    for op_type, name, micros in ops:
        seconds[categorise(op_type, name)] += micros / 1e6 / steps
    return wall, dict(seconds)


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile")
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--steps", type=positive_int, default=8)
    args = parser.parse_args(argv)

    params = apply_overrides(build_profile(args.profile) if args.profile else load_params(args.params), args.overrides)
    train = regime_params(params, first_regime(params))
    batch = train["batch_size"]
    precision = choose_precision(train["precision"])
    configure_runtime(params["seed"], precision.policy)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.integers(0, 256, (batch, 32, 32, 3)).astype(np.float32))
    labels = tf.one_hot(rng.integers(0, 10, batch), 10)
    peak, cores = core_peak(precision.policy), len(os.sched_getaffinity(0))
    print(f"\n{cpu_name()}, {precision.policy}, {cores} core(s); peak {peak.describe()}; batch {batch}, "
          f"{args.steps} profiled steps\n")
    for variant in args.variants:
        model = build_variant(variant, params["model"])
        compile_model(model, train, steps_per_epoch=100)
        wall, seconds = breakdown(model, images, labels, args.steps)
        ops_total = sum(seconds.values())
        print(f"### {variant}: {wall * 1000:.0f} ms per step, {batch / wall:.0f} img/s\n")
        print("| where | op ms per step | share of op time |")
        print("|---|---:|---:|")
        for category, spent in sorted(seconds.items(), key=lambda item: -item[1]):
            print(f"| {category} | {spent * 1000:.1f} | {100 * spent / ops_total:.1f}% |")
        print(f"\nop time / wall: {ops_total / wall:.2f}")
        step_flops = 3 * flops_per_image(model) * batch
        conv_seconds = seconds.get("convolution forward", 0) + seconds.get("convolution backward", 0)
        ceiling = peak.flops_per_second * cores
        print(f"\nstep: {step_flops / wall / 1e9:.1f} GFLOP/s = {100 * step_flops / wall / ceiling:.1f}% of peak; "
              f"convolutions alone: {step_flops / max(conv_seconds, 1e-9) / 1e9:.1f} GFLOP/s = "
              f"{100 * step_flops / max(conv_seconds, 1e-9) / ceiling:.1f}% of peak\n")


if __name__ == "__main__":
    main()
