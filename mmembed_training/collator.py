"""
The training collator: dataset examples -> a padded batch with the stage's targets (as transformers' examples keep
their collators beside the training code; the processor only routes a user's inputs).
"""

import torch

from modeling_mmembed.processing_mmembed import MODEL_INPUT_COLUMNS, pad_examples

from .stages import ALL_STAGES, Stage


class MMEmbedDataCollator:
    """
    Batches dataset examples for training: each modality the model uses is padded separately with its mask
    ([`pad_examples`]); the targets are those of the `stage` (a `--stage` name: `Stage.targets`, e.g. `"emotion"`
    maps `emotion_labels` to float multi-label `labels`, `"pretrain"` pads the transcript `labels` with -100 and
    keeps `speaker_labels`). Features are returned as float32. It counts real and padded audio frames
    (`padding_fraction`).
    """

    def __init__(self, stage: str | Stage, modalities=("audio", "visual", "text")):
        if not isinstance(stage, Stage) and stage not in ALL_STAGES:
            raise ValueError(f"stage must be one of {sorted(ALL_STAGES)}, got {stage!r}.")
        self.stage = stage if isinstance(stage, Stage) else ALL_STAGES[stage]
        self.modalities = tuple(modalities)
        self.real_frames = self.total_frames = 0

    def __call__(self, examples: list[dict]) -> dict:
        used = {"audio"} | set(self.modalities)
        columns = [name for name, modality in MODEL_INPUT_COLUMNS.items() if modality in used]
        batch = dict(
            pad_examples([{name: example[name] for name in columns if name in example} for example in examples])
        )
        batch = {name: value.float() if value.is_floating_point() else value for name, value in batch.items()}
        check_finite_batch(batch, examples)
        self.real_frames += int(batch["attention_mask"].sum())
        self.total_frames += batch["attention_mask"].numel()
        return batch | self.stage.targets(examples)

    @property
    def padding_fraction(self) -> float:
        """Share of padded audio frames in the batches made so far."""
        return 1.0 - self.real_frames / self.total_frames if self.total_frames else 0.0


def check_finite_batch(batch: dict, examples: list[dict]) -> None:
    """
    Raise naming the modality and the examples (their `id`, else their position) whose features hold NaN or inf.
    The host-side twin of the model's own check, which a training step on an accelerator skips (no device sync).
    """
    for name, values in batch.items():
        if name in MODEL_INPUT_COLUMNS and values.is_floating_point() and not torch.isfinite(values).all():
            bad = (~torch.isfinite(values)).flatten(1).any(dim=1).nonzero().flatten().tolist()
            ids = [str(examples[index]["id"]) if "id" in examples[index] else index for index in bad]
            raise ValueError(
                f"{name} ({MODEL_INPUT_COLUMNS[name]}) holds NaN/inf in examples {ids}; replace them (0 is the "
                "CMU convention) when building the dataset."
            )
