"""Load and validate ``params.yaml`` in one place; every stage calls ``load_params`` first.

The schema below (``SCHEMA``, completed by ``schema()``) is the single list of what
params.yaml may contain; the variant names and each variant's attention settings
(``model.attention.<variant>``) come from the registries in ``src/models/variants.py``.
Anything else -- an unknown key, a missing key, a wrong type, a value out of range --
is reported in one ``ParamsError`` that names each bad key, its value and what is
allowed, before any stage does work.
"""
from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from src.core.errors import ParamsError
from src.explain import map_layers
from src.explain.methods import CAM_METHODS
from src.models import variants as registry
from src.paths import run_name

PROFILES = ("smoke", "cpu", "short", "long", "study", "full", "seed")
VARIANTS = tuple(registry.VARIANTS)
SOURCE_KINDS = ("official", "local")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "linear", "constant")
# auto: bfloat16 where the hardware computes it natively, else float32 (src/training/runtime.py).
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multi_worker")
NUM_CLASSES = 10
TRAIN_PER_CLASS = 5000
TEST_PER_CLASS = 1000
DEFAULT_PARAMS_FILE = "params.yaml"


@dataclass(frozen=True)
class Rule:
    """What one key accepts: ``check`` returns True for a good value; ``describe`` says what is (a function
    for a rule that reads a registry when it checks, so that what it allows is what the registry holds then)."""

    check: Callable[[Any], bool]
    describe: str | Callable[[], str]

    @property
    def allowed(self) -> str:
        return self.describe() if callable(self.describe) else self.describe


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def integer(lo: int | None = None, hi: int | None = None) -> Rule:
    desc = "an integer" + (f" >= {lo}" if lo is not None else "") + (f" and <= {hi}" if hi is not None else "")
    return Rule(lambda v: _is_int(v) and (lo is None or v >= lo) and (hi is None or v <= hi), desc)


def number(gt: float | None = None, ge: float | None = None, lt: float | None = None, le: float | None = None) -> Rule:
    parts = [f"> {gt}" if gt is not None else "", f">= {ge}" if ge is not None else "",
             f"< {lt}" if lt is not None else "", f"<= {le}" if le is not None else ""]
    desc = "a finite number " + " and ".join(p for p in parts if p)

    def ok(v: Any) -> bool:
        return (_is_number(v) and (gt is None or v > gt) and (ge is None or v >= ge)
                and (lt is None or v < lt) and (le is None or v <= le))

    return Rule(ok, desc.strip())


def choice(options: tuple[str, ...]) -> Rule:
    return Rule(lambda v: isinstance(v, str) and v in options, "one of: " + ", ".join(options))


def boolean() -> Rule:
    return Rule(lambda v: isinstance(v, bool), "true or false")


def int_list(min_len: int = 1, lo: int = 1, hi: int | None = None, max_len: int | None = None) -> Rule:
    def ok(v: Any) -> bool:
        return (isinstance(v, list) and len(v) >= min_len and (max_len is None or len(v) <= max_len)
                and all(_is_int(i) and i >= lo and (hi is None or i <= hi) for i in v))

    length = f"at least {min_len}" + (f" and at most {max_len}" if max_len is not None else "")
    return Rule(ok, f"a list of {length} integers, each >= {lo}" + (f" and <= {hi}" if hi is not None else ""))


def distinct_ints(lo: int, hi: int, max_len: int) -> Rule:
    return Rule(
        lambda v: isinstance(v, list) and 1 <= len(v) <= max_len and len(set(v)) == len(v)
        and all(_is_int(i) and lo <= i <= hi for i in v),
        f"a non-empty list of at most {max_len} different integers, each >= {lo} and <= {hi}",
    )


def subset_of(options: Collection[str]) -> Rule:
    """A non-empty list of distinct ``options``; a registry (a dict) is read each time a value is checked."""
    return Rule(
        lambda v: isinstance(v, list) and len(v) >= 1 and len(set(v)) == len(v)
        and all(isinstance(i, str) and i in options for i in v),
        lambda: "a non-empty list without repeats, drawn from: " + ", ".join(options),
    )


def _source_ok(v: Any) -> bool:
    if not isinstance(v, dict) or v.get("kind") not in SOURCE_KINDS:
        return False
    if v["kind"] == "official":
        return (set(v) == {"kind", "url", "md5"} and isinstance(v["url"], str)
                and isinstance(v["md5"], str) and len(v["md5"]) == 32)
    sha = v.get("sha256", "")
    return (set(v) <= {"kind", "path", "sha256"} and isinstance(v.get("path"), str) and v["path"] != ""
            and isinstance(sha, str) and (sha == "" or len(sha) == 64))


SOURCES_RULE = Rule(
    lambda v: isinstance(v, list) and len(v) >= 1 and all(_source_ok(s) for s in v),
    "a non-empty list of sources, each {kind: official, url: URL, md5: 32 hex} "
    "or {kind: local, path: PATH, sha256: 64 hex or ''}",
)

# Upper bounds catch values that are surely typos (a width of 1,000,000 would not fit in memory,
# a 69,000-pixel-tall heatmap grid is no figure) before any stage spends time on them.
MAX_SEED = 2**32 - 1  # what NumPy and Keras seeding accept
MAX_EPOCHS = 1000
MAX_WIDTH = 1024
MAX_BLOCKS_PER_STAGE = 64
MAX_GRID_PER_CLASS = 10
MAX_TRAINING_SEEDS = 100
MAX_CLUSTER_TIMEOUT_SECONDS = 86400

SCHEMA: dict[str, Rule] = {
    "profile": choice(PROFILES),
    "seed": integer(lo=0, hi=MAX_SEED),
    "data.sources": SOURCES_RULE,
    "data.connect_timeout": number(gt=0, le=120),
    "data.val_fraction": number(gt=0, lt=1),
    "data.train_per_class": integer(lo=0),
    "data.test_per_class": integer(lo=0, hi=TEST_PER_CLASS),
    "model.blocks": int_list(min_len=1, lo=1, hi=MAX_BLOCKS_PER_STAGE, max_len=map_layers.MAX_STAGES),
    "model.width": integer(lo=1, hi=MAX_WIDTH),
    "model.expansion": integer(lo=1, hi=16),
    "model.stem": choice(registry.STEMS),
    "model.strides": int_list(min_len=1, lo=1, hi=4, max_len=map_layers.MAX_STAGES),
    "model.widen": boolean(),
    "model.stride_conv": choice(registry.STRIDE_CONVS),
    "model.zero_init_last": boolean(),
    "model.implementation": choice(registry.IMPLEMENTATIONS),
    "study.regimes": Rule(lambda v: isinstance(v, dict) and len(v) >= 1 and all(isinstance(r, dict) for r in v.values()),
                          "a non-empty mapping of regime names to the train.* settings that differ from train "
                          "({} for none), e.g. {short: {epochs: 3}, long: {epochs: 14}}"),
    "study.seeds": Rule(lambda v: isinstance(v, dict) and len(v) >= 1,
                        "a mapping of each regime of study.regimes to its training seeds, e.g. {short: [0, 1, 2]}"),
    "study.runs": Rule(lambda v: isinstance(v, dict),
                       "a mapping <regime>-<variant>-<seed>: {regime, variant, seed}, one entry per run "
                       "(written by `python -m src.config.study`)"),
    "train.epochs": integer(lo=1, hi=MAX_EPOCHS),
    "train.batch_size": integer(lo=1, hi=65536),
    "train.optimizer": choice(OPTIMIZERS),
    "train.lr": number(gt=0, le=10),
    "train.momentum": number(ge=0, lt=1),
    "train.nesterov": boolean(),
    "train.weight_decay": number(ge=0, lt=1),
    "train.schedule": choice(SCHEDULES),
    "train.warmup_epochs": number(ge=0, le=MAX_EPOCHS),
    "train.label_smoothing": number(ge=0, lt=1),
    "train.stem_whitening": boolean(),
    "train.freeze_stem": boolean(),
    "train.bn_bias_lr_multiplier": number(gt=0, le=1000),
    "train.augment.flip": boolean(),
    "train.augment.crop_pad": integer(lo=0, hi=16),
    "train.augment.alternate_flip": boolean(),
    "train.precision": choice(PRECISIONS),
    "train.jit_compile": boolean(),
    "train.strategy": choice(STRATEGIES),
    "train.cluster_timeout_seconds": number(gt=0, le=MAX_CLUSTER_TIMEOUT_SECONDS),
    "train.early_stopping_patience": integer(lo=0, hi=MAX_EPOCHS),
    "evaluate.batch_size": integer(lo=1, hi=65536),
    "evaluate.tta_flip": boolean(),
    "evaluate.tta_shift": integer(lo=0, hi=8),
    "gradcam.methods": subset_of(CAM_METHODS),
    "gradcam.layers": subset_of(map_layers.MAP_LAYERS),
    "gradcam.per_class": integer(lo=1, hi=MAX_GRID_PER_CLASS),
    "gradcam.sanity_per_class": integer(lo=1, hi=TEST_PER_CLASS),
    "gradcam.study_seed": integer(lo=0, hi=MAX_SEED),
    "gradcam.selection_per_class": integer(lo=1, hi=TRAIN_PER_CLASS),
    "gradcam.batch_size": integer(lo=1, hi=4096),
    "gradcam.faithfulness_per_class": integer(lo=1, hi=TEST_PER_CLASS),
    "gradcam.faithfulness_steps": integer(lo=2, hi=1024),
    "gradcam.user_images": Rule(lambda v: isinstance(v, str), "a directory path, or '' for none"),
}


def registry_rules() -> dict[str, Rule]:
    """The rules the registries add: which variants there are, and each variant's attention settings.

    Read at each validation, so a variant or attention kind registered at run time (a test's) is known.
    """
    rules = {"study.variants": subset_of(tuple(registry.VARIANTS))}
    # model.attention.<variant>.<setting>: a training stage reads only its own variant's, so tuning CBAM
    # never retrains Original.
    for name in registry.VARIANTS:
        settings = registry.variant_settings(name)
        if settings:
            rules.update({f"model.attention.{name}.{key}": Rule(setting.allows, setting.allowed)
                          for key, setting in settings.items()})
        else:
            rules[f"model.attention.{name}"] = Rule(lambda v: v == {}, "{} (this variant has no attention settings)")
    return rules


def schema() -> dict[str, Rule]:
    """Every key params.yaml must hold, with its rule: the fixed keys of ``SCHEMA`` and the registries' keys."""
    return {**SCHEMA, **registry_rules()}


def with_attention_defaults(params: dict) -> dict:
    """``params`` with every registered variant's attention settings, the registry's defaults where absent.

    So base.yaml lists a setting only to differ from its default, and params.yaml still records each one
    (a training stage depends on its variant's settings as params).
    """
    section = params.setdefault("model", {}).setdefault("attention", {})
    for name in registry.VARIANTS:
        settings = section.setdefault(name, {})
        if isinstance(settings, dict):
            for key, setting in registry.variant_settings(name).items():
                settings.setdefault(key, setting.default)
    return params


def _flatten(tree: dict, rules: dict[str, Rule], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted keys down to the keys of ``rules``; lists and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        is_section = any(k.startswith(dotted + ".") for k in rules)
        if isinstance(value, dict) and is_section:
            flat.update(_flatten(value, rules, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def validate(params: Any, origin: str = DEFAULT_PARAMS_FILE) -> dict:
    """Return ``params`` if it matches the schema, else raise one ParamsError listing every problem."""
    if not isinstance(params, dict):
        raise ParamsError(f"{origin}: expected a mapping of sections, got {type(params).__name__}")
    rules = schema()
    flat = _flatten(params, rules)
    problems = []
    for key in sorted(set(flat) - set(rules)):
        problems.append(f"{key}: unknown key (value {flat[key]!r}); check the spelling against the profiles")
    for key, rule in rules.items():
        if key not in flat:
            problems.append(f"{key}: missing; it must be {rule.allowed}")
        elif not _passes(rule, flat[key]):
            problems.append(f"{key} = {flat[key]!r} is invalid; it must be {rule.allowed}{_hint(flat[key])}")
    if not problems:
        problems.extend(_cross_checks(params))
    if problems:
        raise ParamsError(f"{origin}: " + ("\n  " if len(problems) > 1 else "") + "\n  ".join(problems))
    return params


def _passes(rule: Rule, value: Any) -> bool:
    try:
        return bool(rule.check(value))
    except (TypeError, ValueError):  # e.g. unhashable items in a list that must hold names
        return False


def _hint(value: Any) -> str:
    """Why a value that looks like a number is not one: YAML 1.1 reads 1e-3 (no dot) as text."""
    if isinstance(value, str):
        try:
            number_value = float(value)
        except ValueError:
            return ""
        return (f" (YAML read it as the text {value!r}, not a number; "
                f"write it with a dot and a signed exponent, e.g. {number_value!r})")
    return ""


def _cross_checks(p: dict) -> list[str]:
    problems = []
    model = p["model"]
    if len(model["strides"]) != len(model["blocks"]):
        problems.append(
            f"model.strides = {model['strides']!r} is invalid; it must have one entry per stage "
            f"of model.blocks = {model['blocks']!r}"
        )
    available = math.floor(TRAIN_PER_CLASS * (1 - p["data"]["val_fraction"]))
    if p["data"]["train_per_class"] > available:
        problems.append(
            f"data.train_per_class = {p['data']['train_per_class']} is invalid; the training split has "
            f"{available} images per class after holding out data.val_fraction = {p['data']['val_fraction']} "
            "(use 0 for all)"
        )
    problems.extend(_study_problems(p))
    if problems:  # the checks below read the regimes' settings
        return problems
    images = train_size(p)
    for regime in p["study"]["regimes"]:
        train, where = regime_params(p, regime), _where(p, regime)
        if train["batch_size"] > images:
            problems.append(f"train.batch_size = {train['batch_size']}{where} is invalid; it must not exceed the "
                            f"{images} training images (data.train_per_class x 10 classes)")
        if train["warmup_epochs"] > train["epochs"]:
            problems.append(f"train.warmup_epochs = {train['warmup_epochs']}{where} is invalid; it must not exceed "
                            f"train.epochs = {train['epochs']}{where}")
    test_per_class = p["data"]["test_per_class"] or TEST_PER_CLASS
    for key in ("per_class", "faithfulness_per_class"):
        if p["gradcam"][key] > test_per_class:
            problems.append(f"gradcam.{key} = {p['gradcam'][key]} is invalid; the test split has "
                            f"{test_per_class} images per class (data.test_per_class)")
    cam = p["gradcam"]
    for key, pool in (("per_class", "faithfulness_per_class"), ("sanity_per_class", "selection_per_class")):
        if cam[key] > cam[pool]:
            problems.append(f"gradcam.{key} = {cam[key]} is invalid; it must not exceed gradcam.{pool} "
                            f"= {cam[pool]} (its images are drawn from those)")
    if cam["selection_per_class"] > val_per_class(p):
        problems.append(f"gradcam.selection_per_class = {cam['selection_per_class']} is invalid; the validation "
                        f"split has {val_per_class(p)} images per class (data.val_fraction, data.train_per_class)")
    for regime, seeds in p["study"]["seeds"].items():
        if cam["study_seed"] not in seeds:
            problems.append(f"gradcam.study_seed = {cam['study_seed']} is invalid; it must be one of "
                            f"study.seeds.{regime} = {seeds!r} (the run whose model the heatmap study measures)")
    missing = map_layers.missing_stages(cam["layers"], len(model["blocks"]))
    if missing:
        problems.append(f"gradcam.layers = {cam['layers']!r} is invalid; the network has {len(model['blocks'])} stages "
                        f"(model.blocks), so {', '.join(missing)} does not exist")
    fusion_problem = map_layers.fusion_problem(cam["layers"])
    if fusion_problem:
        problems.append(f"gradcam.layers = {cam['layers']!r} is invalid; {fusion_problem}")
    user_images = p["gradcam"]["user_images"]
    if user_images and not Path(user_images).is_dir():
        problems.append(f"gradcam.user_images = {user_images!r} is invalid; it must be a directory of images "
                        "(or '' for none)")
    return problems


REGIME_NAME = re.compile(r"[a-z][a-z0-9_]*")
# What a regime may set: a training setting of one value; the study's lists and the cluster are the study's own.
REGIME_KEYS = tuple(key.removeprefix("train.") for key in SCHEMA
                    if key.startswith("train.") and key.count(".") == 1 and key != "train.cluster_timeout_seconds")


def expand_runs(study: dict) -> dict[str, dict]:
    """``study.runs`` as ``study.variants`` x each regime's ``study.seeds`` make it: regimes, then variants,
    in their listed order (the keys are the runs' DVC stage suffixes, src/paths.py ``run_name``)."""
    return {run_name(regime, variant, seed): {"regime": regime, "variant": variant, "seed": seed}
            for regime in study.get("regimes") or {} for variant in study.get("variants") or []
            for seed in (study.get("seeds") or {}).get(regime) or []}


def regime_params(params: dict, regime: str) -> dict:
    """The ``train`` settings of a run in ``regime``: ``train`` with the regime's own settings over it."""
    return {**params["train"], **params["study"]["regimes"][regime]}


def run_params(params: dict, regime: str) -> dict:
    """``params`` as a run in ``regime`` sees them: ``train`` holds the regime's settings."""
    return {**params, "train": regime_params(params, regime)}


def _where(params: dict, regime: str) -> str:
    """Where a regime's training setting comes from, for an error message (nothing when there is one regime)."""
    return f" (in regime {regime!r})" if len(params["study"]["regimes"]) > 1 else ""


def _study_problems(p: dict) -> list[str]:
    study, problems = p["study"], []
    for regime, settings in study["regimes"].items():
        if not isinstance(regime, str) or not REGIME_NAME.fullmatch(regime):
            problems.append(f"study.regimes: the name {regime!r} is invalid; a regime's name must be lower-case "
                            "letters, digits and _ starting with a letter (it becomes part of stage names and paths)")
            continue
        for key, value in settings.items():
            if key not in REGIME_KEYS:
                problems.append(f"study.regimes.{regime}.{key}: unknown setting (value {value!r}); a regime may set "
                                f"train settings: {', '.join(REGIME_KEYS)}")
            elif not _passes(rule := SCHEMA[f"train.{key}"], value):
                problems.append(f"study.regimes.{regime}.{key} = {value!r} is invalid; it must be "
                                f"{rule.allowed}{_hint(value)}")
    seeds_rule = distinct_ints(0, MAX_SEED, MAX_TRAINING_SEEDS)
    for regime in study["regimes"]:
        if regime not in study["seeds"]:
            problems.append(f"study.seeds.{regime}: missing; it must be {seeds_rule.allowed} "
                            "(the training seeds of that regime)")
        elif not _passes(seeds_rule, study["seeds"][regime]):
            problems.append(f"study.seeds.{regime} = {study['seeds'][regime]!r} is invalid; it must be "
                            f"{seeds_rule.allowed}")
    for regime in study["seeds"]:
        if regime not in study["regimes"]:
            problems.append(f"study.seeds.{regime}: unknown regime; the regimes are study.regimes: "
                            f"{', '.join(map(str, study['regimes']))}")
    if problems:
        return problems
    expected, listed = expand_runs(study), study["runs"]
    missing, extra = [k for k in expected if k not in listed], [str(k) for k in listed if k not in expected]
    wrong = [k for k in expected if k in listed and listed[k] != expected[k]]
    if missing or extra or wrong:
        parts = [f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                 for label, keys in (("missing", missing), ("not in the study", extra),
                                     ("entries that do not match their name:", wrong)) if keys]
        problems.append(f"study.runs does not list study.variants x study.seeds ({'; '.join(parts)}); "
                        "rewrite it with `python -m src.config.study`")
    return problems


def training_seed(text: str) -> int:
    """argparse type of ``--seed``: a whole number a training seed may be (0 to 2^32 - 1)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 0 to {MAX_SEED}")
    return value


def run_stage_arguments(description: str, prepared_default: str, argv: list[str] | None = None, *,
                        with_seed: bool = True) -> argparse.Namespace:
    """The command line of a per-run stage (train, evaluate, heatmaps; without ``--seed``, a per-variant stage
    such as heatmap_study): which run, which params, which data."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regime", help="the run's training regime, a name of study.regimes (default: the first)")
    parser.add_argument("--variant", required=True, choices=tuple(registry.VARIANTS))
    if with_seed:
        parser.add_argument("--seed", required=True, type=training_seed,
                            help="the run's training seed (study.seeds lists the study's)")
    parser.add_argument("--params", default=DEFAULT_PARAMS_FILE)
    parser.add_argument("--prepared", default=prepared_default, help="the prepared data set (default: %(default)s)")
    return parser.parse_args(argv)


def first_regime(params: dict) -> str:
    """The regime a command uses when none is named: the first of ``study.regimes``."""
    return next(iter(params["study"]["regimes"]))


def known_regime(params: dict, regime: str | None, origin: str = DEFAULT_PARAMS_FILE) -> str:
    """``regime`` if the params define it (None: their first regime); ParamsError naming the regimes otherwise."""
    if regime is None:
        return first_regime(params)
    if regime not in params["study"]["regimes"]:
        raise ParamsError(f"{origin}: regime {regime!r} is not in study.regimes "
                          f"({', '.join(params['study']['regimes'])})")
    return regime


def load_params(path: str | os.PathLike = DEFAULT_PARAMS_FILE) -> dict:
    """Read and validate a params file; every stage's first call."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: not found; create it with `python -m src.config.profile smoke` (or cpu/full/seed)")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    return validate(params, origin=str(path))


def val_per_class(params: dict) -> int:
    """Images per class in the validation split (as ``src.data.prepared.stratified_split`` holds them out)."""
    fraction, per_class = params["data"]["val_fraction"], params["data"]["train_per_class"]
    if per_class:
        return max(1, round(per_class * fraction / (1 - fraction)))
    return max(1, round(TRAIN_PER_CLASS * fraction))


def train_size(params: dict) -> int:
    """Images in the training split after the validation hold-out and any subset."""
    per_class = params["data"]["train_per_class"]
    if per_class == 0:
        per_class = TRAIN_PER_CLASS - round(TRAIN_PER_CLASS * params["data"]["val_fraction"])
    return per_class * NUM_CLASSES
