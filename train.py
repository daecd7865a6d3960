"""
Training and evaluation of mmembed: `accelerate launch train.py ...` (or `python train.py ...`, or the `mmembed-train`
console script that `pip install "mmembed[train]"` installs: the same arguments).

    python train.py                                   # the default run: the whole method on the built-in demo corpora
    python train.py demo --size smoke                 # ... with tiny budgets (sizes: full, long, quick, smoke)
    accelerate launch train.py configs/demo.yaml      # one stage, from a config file (later flags override it)
    python train.py --stage emotion --corpus mosei --data_dir /data/CMU-MOSEI --model_name_or_path outputs/pretrain

Stages (`--stage`):
- `pretrain`: ASR + person identification on a pre-training corpus (`--corpus demo` or `--corpus manifest
  --data_dir manifest.jsonl`); best checkpoint by validation CER on held-out sentences.
- `emotion`: the 6 CMU-MOSEI emotions (multi-label) on `--corpus demo` (the raw demo emotion corpus), `demo-mosei`
  (the CMU-MOSEI-format demo set) or `mosei` (`--data_dir` with the CMU SDK files), from `--model_name_or_path` (a
  pre-trained checkpoint) or from scratch (`--preset`); `--freeze_encoder` trains the head only. Best checkpoint by
  validation mean weighted accuracy; decision thresholds are tuned on validation and stored in the saved config.
- `sentiment`: MOSEI sentiment regression on the same corpora; best by validation MAE.
- `evaluate`: a saved model (`--model_name_or_path`) on `--eval_split`.

The script itself is `mmembed_training/run.py` (arguments -> corpus -> model -> `Trainer` -> evaluation with tuned
thresholds -> save, card, push); this file only starts it, so that `python train.py` and `mmembed-train` run one
copy of it. The rest of the package: `arguments.py`, `data.py`, `models.py`, `trainer.py`, `evaluation.py`, `hub.py`
and `demo.py` (the default run).
"""

import sys

from mmembed_training.cli import console

if __name__ == "__main__":
    sys.exit(console())
