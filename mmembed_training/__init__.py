"""
Training and evaluation of mmembed models on `transformers.Trainer` (the `train` extra): what `train.py` and the
`mmembed-train` console script run.

- `run.py`: the training script, one stage (`train_stage`) or the scoring of a saved model (`evaluate_stage`).
- `arguments.py`: `RunArguments` and the reading of config files and flags.
- `stages.py`: each training stage as one `Stage` record; `corpora.py`: each `--corpus` as one `CorpusSpec`.
- `data.py`: the corpus of a stage, cut to a label fraction, and its split checks. `models.py`: the model to train.
- `collator.py`: the training batches. `scores.py`: the metrics.
- `trainer.py`: `MMEmbedTrainer` and `OutputFolder` (complete checkpoints, the atomic final folder).
- `evaluation.py`: the scores of a split. `hub.py`: the model card and the upload. `demo.py`: the default run.
- `configs/`, `model_card.md`, `metrics/mmembed_emotion/`: the config presets, the card template, the `evaluate`
  metric (also at the repository's root, as links).
"""

from importlib import resources

RESOURCES = resources.files(__name__)
"""The packaged `configs/`, `model_card.md` and `metrics/`."""

EMOTION_METRIC_PATH = str(RESOURCES / "metrics" / "mmembed_emotion")
"""The `evaluate` metric's folder, wherever the package is installed: `evaluate.load(EMOTION_METRIC_PATH)`."""
