#!/usr/bin/env bash
# Round 1 of the recipe search (docs/recipe.md): Original at 5 epochs on the cpu network, the levers
# together and minus one at a time. One core per list; finished runs are skipped (docs/recipe/runs.jsonl).
# Usage, from the project root after `dvc repro preprocess`: bash docs/recipe/round1.sh 0 & bash docs/recipe/round1.sh 1
set -euo pipefail
core=${1:?core number}
levers=(-S train.epochs=5 -S train.label_smoothing=0.2 -S train.stem_whitening=true -S train.freeze_stem=true
        -S train.augment.alternate_flip=true)
search() { taskset -c "$core" python -m benchmarks.recipe_search --profile cpu --seeds 0 1 "$@"; }
if [ "$core" = 0 ]; then
  search --name cpu-e5 -S train.epochs=5
  search --name levers-e5 "${levers[@]}" -S train.bn_bias_lr_multiplier=8
  search --name levers-e5-bnbias32 "${levers[@]}" -S train.bn_bias_lr_multiplier=32
else
  search --name levers-e5-no-bnbias "${levers[@]}"
  search --name levers-e5-lr0.4 "${levers[@]}" -S train.bn_bias_lr_multiplier=8 -S train.lr=0.4
  search --name levers-e5-no-ls -S train.epochs=5 -S train.stem_whitening=true -S train.freeze_stem=true \
    -S train.augment.alternate_flip=true -S train.bn_bias_lr_multiplier=8
  search --name levers-e5-no-whiten -S train.epochs=5 -S train.label_smoothing=0.2 \
    -S train.augment.alternate_flip=true -S train.bn_bias_lr_multiplier=8
  search --name levers-e5-no-altflip -S train.epochs=5 -S train.label_smoothing=0.2 -S train.stem_whitening=true \
    -S train.freeze_stem=true -S train.bn_bias_lr_multiplier=8
fi
