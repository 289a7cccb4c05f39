"""Throughput table: params, FLOPs/image, training and inference img/s per variant, side by side.

    python -m benchmarks.throughput                 # the model/train settings in params.yaml
    python -m benchmarks.throughput --profile cpu   # another profile's settings
    python -m benchmarks.throughput --precision float32 --jit --batch-size 256 --width 24
    python -m benchmarks.throughput --profile cpu --implementations reference fast

All variants (and implementations) are measured in one process on synthetic data of
CIFAR shape, in interleaved rounds (Original, SE, CBAM, Original, ...) and reported as
the median round, so the ratios (SE and CBAM vs Original of the same implementation,
fast vs reference of the same variant) compare like with like even when the machine's
speed drifts during the run. The CPU and the precision in force head the table. The input
pipeline's img/s (the real tf.data augmentation path) is printed for reference:
it must stay far above the model's rate.

"train GFLOP/s" is the training step's arithmetic rate (3 x the forward FLOPs per image:
forward, and the backward pass's two products per layer) and "% of peak" its share of
one core's nominal peak for the precision in force (``benchmarks/peak.py``) times the
cores TensorFlow may use (``taskset`` narrows them).

"train min" projects the profile's training time on this machine (epochs x
training-split images / train img/s; per-epoch validation and the first epoch's
tracing add about a minute), and "epochs in N min" how many epochs fit a budget
(``--budget-minutes``, default 20): the quick way to size ``train.epochs`` for a
machine before committing to a long run.
"""
from __future__ import annotations

import argparse
import copy
import os
import time

import numpy as np
import tensorflow as tf

from benchmarks.args import positive_float, positive_int
from benchmarks.peak import core_peak
from src.core.errors import stage_main
from src.config.params import VARIANTS, first_regime, load_params, regime_params, train_size, validate
from src.config.profile import build_profile
from src.data.loader import make_train_dataset
from src.models.flops import flops_per_image
from src.models.resnet import build_variant
from src.models.variants import IMPLEMENTATIONS
from src.training.optim import compile_model
from src.training.runtime import choose_precision, configure_runtime, cpu_name


def measure(fn, images_per_call: int, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return images_per_call * repeats / (time.perf_counter() - start)


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", help="take settings from this profile instead of params.yaml")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--precision", choices=["auto", "float32", "mixed_bfloat16"])
    parser.add_argument("--implementations", nargs="+", choices=IMPLEMENTATIONS,
                        help="model.implementation(s) to measure (default: the one in the params)")
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--blocks", type=int, nargs="+")
    parser.add_argument("--strides", type=int, nargs="+")
    parser.add_argument("--steps", type=positive_int, default=8, help="timed training steps per variant and round")
    parser.add_argument("--rounds", type=positive_int, default=5, help="interleaved measuring rounds; the median is reported")
    parser.add_argument("--budget-minutes", type=positive_float, default=20.0,
                        help="training budget per variant for the 'epochs in N min' column")
    args = parser.parse_args(argv)

    params = build_profile(args.profile) if args.profile else load_params(args.params)
    params = copy.deepcopy(params)
    for key, value in (("precision", args.precision), ("jit_compile", args.jit), ("batch_size", args.batch_size)):
        if value is not None:
            params["train"][key] = value
    if args.width:
        params["model"]["width"] = args.width
    if args.blocks:
        params["model"]["blocks"] = args.blocks
        params["model"]["strides"] = params["model"]["strides"][: len(args.blocks)] + [2] * (
            len(args.blocks) - len(params["model"]["strides"]))
    if args.strides:
        params["model"]["strides"] = args.strides
    validate(params, origin="benchmark settings")
    train = regime_params(params, first_regime(params))
    batch = train["batch_size"]

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch * 4, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, batch * 4)
    images = tf.constant(x[:batch].astype(np.float32))
    onehot = tf.one_hot(y[:batch], 10)

    ds = make_train_dataset(x.repeat(8, axis=0), y.repeat(8), batch, epochs=2,
                            flip=train["augment"]["flip"], crop_pad=train["augment"]["crop_pad"], seed=0)
    start = time.perf_counter()
    n = sum(int(b[0].shape[0]) for b in ds)
    input_rate = n / (time.perf_counter() - start)

    precision = choose_precision(train["precision"])
    configure_runtime(params["seed"], precision.policy)
    implementations = args.implementations or [params["model"]["implementation"]]
    runners = {}
    for implementation in implementations:
        for variant in args.variants:
            model = build_variant(variant, {**params["model"], "implementation": implementation})
            compile_model(model, train, steps_per_epoch=100)
            infer = tf.function(lambda t, model=model: model(t, training=False), jit_compile=train["jit_compile"])
            runners[variant, implementation] = (model, lambda model=model: model.train_on_batch(images, onehot),
                                                lambda infer=infer: infer(images).numpy())
    rates = {key: ([], []) for key in runners}
    for round_index in range(args.rounds):
        for key, (_, train_step, infer_step) in runners.items():
            warmup = 2 if round_index == 0 else 1
            rates[key][0].append(measure(train_step, batch, warmup, args.steps))
            rates[key][1].append(measure(infer_step, batch, warmup, args.steps * 2))
    medians = {key: (float(np.median(train_rates)), float(np.median(infer_rates)))
               for key, (train_rates, infer_rates) in rates.items()}

    print(f"\n{cpu_name()}, {precision.policy} ({precision.reason}); blocks {params['model']['blocks']}, "
          f"strides {params['model']['strides']}, width {params['model']['width']}, batch {batch}, "
          f"jit_compile={train['jit_compile']}; median of {args.rounds} rounds; "
          f"input pipeline {input_rate:,.0f} img/s\n")
    # Training sees whole batches only, as the training stage does.
    images_per_epoch = train_size(params) // batch * batch
    budget = args.budget_minutes
    peak, cores = core_peak(precision.policy), len(os.sched_getaffinity(0))
    print(f"Peak: {peak.describe()} x {cores} core(s)\n")
    print(f"| variant | implementation | params | MFLOPs/img | train img/s | train GFLOP/s | % of peak | infer img/s "
          f"| train vs Original | infer vs Original | train vs reference | train min ({train['epochs']} epochs) "
          f"| epochs in {budget:g} min |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (variant, implementation), (model, _, _) in runners.items():
        train_rate, infer_rate = medians[variant, implementation]
        base = medians.get(("original", implementation))
        reference = medians.get((variant, "reference"))
        vs_base = (f"{train_rate / base[0]:.2f}x", f"{infer_rate / base[1]:.2f}x") if base else ("-", "-")
        vs_reference = f"{train_rate / reference[0]:.2f}x" if reference else "-"
        minutes = train["epochs"] * images_per_epoch / train_rate / 60
        fitting = int(budget * 60 * train_rate // images_per_epoch)
        train_flops = 3 * flops_per_image(model) * train_rate
        print(f"| {variant} | {implementation} | {model.count_params():,} | {flops_per_image(model) / 1e6:.1f} | "
              f"{train_rate:.0f} | {train_flops / 1e9:.1f} | {100 * train_flops / (peak.flops_per_second * cores):.1f} | "
              f"{infer_rate:.0f} | {vs_base[0]} | {vs_base[1]} | {vs_reference} | "
              f"{minutes:.1f} | {fitting} |")

if __name__ == "__main__":
    main()
