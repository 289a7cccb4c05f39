"""Per-layer cost of the attention modules: the fast layers vs the reference layers.

    python -m benchmarks.attention                  # the model/train settings in params.yaml
    python -m benchmarks.attention --profile cpu

For every attention layer with a fast subclass (``fast_layer`` in ``ATTENTION_KINDS``),
in the profile's model of the first variant of its kind, one forward + backward step
(gradients for the input and the layer's weights) on a batch of random feature
maps of that layer's shape, timed for the fast layer (``src/models/fast/attention.py``)
and for its reference layer with the same weights (``src/models/attention.py``),
interleaved and reported as the median of the rounds.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import tensorflow as tf

from benchmarks.args import positive_int
from src.core.errors import stage_main
from src.config.params import load_params
from src.config.profile import build_profile
from src.models.resnet import build_variant
from src.models.variants import ATTENTION_KINDS, VARIANTS
from src.training.runtime import choose_precision, configure_runtime, cpu_name


def reference_twin(layer, x):
    """The reference layer of a fast ``layer``, with its config and weights."""
    twin = layer.REFERENCE.from_config(layer.get_config())
    twin(x)
    twin.set_weights(layer.get_weights())
    return twin


def step_fn(layer, forward):
    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(forward(x), tf.float32))
        return tape.gradient(loss, [x, *layer.trainable_variables])
    return step


def time_ms(step, x, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        step(x)
    return (time.perf_counter() - start) / repeats * 1e3


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", help="take settings from this profile instead of params.yaml")
    parser.add_argument("--repeats", type=positive_int, default=10, help="timed steps per layer, path and round")
    parser.add_argument("--rounds", type=positive_int, default=5)
    args = parser.parse_args(argv)

    params = build_profile(args.profile) if args.profile else load_params(args.params)
    train = params["train"]
    precision = choose_precision(train["precision"])
    configure_runtime(params["seed"], precision.policy)
    batch = train["batch_size"]
    print(f"\n{cpu_name()}, batch {batch}, {precision.policy}, forward + backward per layer, "
          f"median of {args.rounds} rounds\n")
    print("| layer | feature map | reference ms | fast ms | speed-up |")
    print("|---|---|---:|---:|---:|")
    totals = np.zeros(2)
    for kind_name, kind in ATTENTION_KINDS.items():
        variant = next((name for name, v in VARIANTS.items() if v.attention == kind_name), None)
        if kind.fast_layer is None or variant is None:
            continue  # no fast layer to compare, or no variant to build it in
        model = build_variant(variant, {**params["model"], "implementation": "fast"})
        for layer in model.layers:
            if type(layer).__name__ != kind.fast_layer:
                continue
            shape = (batch, *layer.input.shape[1:])
            x = tf.cast(tf.random.stateless_normal(shape, seed=(0, 0)), layer.compute_dtype)
            twin = reference_twin(layer, x)
            steps = [step_fn(layer, layer), step_fn(twin, twin)]
            for step in steps:
                step(x)  # trace and compile outside the timing
            times = np.median([[time_ms(step, x, args.repeats) for step in steps] for _ in range(args.rounds)], axis=0)
            totals += times
            print(f"| {variant}/{layer.name} | {'x'.join(map(str, shape[1:]))} | {times[1]:.2f} | {times[0]:.2f} | "
                  f"{times[1] / times[0]:.2f}x |")
    print(f"| all | | {totals[1]:.2f} | {totals[0]:.2f} | {totals[1] / totals[0]:.2f}x |")


if __name__ == "__main__":
    main()
