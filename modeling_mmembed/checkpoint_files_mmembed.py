# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
What an MMEmbed checkpoint adds to `PreTrainedModel`'s saving and loading (`MMEmbedCheckpointMixin`), kept out of the
model file:

- the code files it carries beyond what transformers copies itself. `save_pretrained` of a model, a processor, a
  tokenizer or a feature extractor registered for an auto class copies the module of its class and that module's
  relative imports (`transformers.dynamic_module_utils.custom_object_save`). The pipelines and the Inference Endpoints
  handler are no such class, so they are copied here, with their own relative imports;
- the check of a checkpoint's input layers against the config `from_pretrained` is asked for;
- the record of which weights `from_pretrained` had to initialise (`newly_initialized_weights`), so that the pipelines
  can refuse a model whose head is random instead of answering with random scores.
"""

import os
import shutil
from pathlib import Path

from transformers.dynamic_module_utils import get_relative_import_files
from transformers.utils import logging

from .configuration_mmembed import INPUT_LAYER_FIELDS, MMEmbedConfig, check_input_layers

logger = logging.get_logger(__name__)

EXTRA_CODE_FILES = ("pipeline_mmembed.py", "handler.py")
"""The `custom_pipelines` of every saved config, and `handler.py` (run by a custom Inference Endpoint)."""


def copy_extra_code_files(save_directory) -> list[str]:
    """Copy `EXTRA_CODE_FILES` and their relative imports into `save_directory`; their names, in copying order."""
    source = Path(__file__).parent
    missing = [name for name in EXTRA_CODE_FILES if not (source / name).is_file()]
    if missing:
        logger.warning(f"Saved without {missing}: this copy of the code (in {source}) does not have them.")
    files = [source / name for name in EXTRA_CODE_FILES if name not in missing]
    files += [Path(needed) for path in files for needed in get_relative_import_files(str(path))]
    copied = []
    for path in dict.fromkeys(files):
        shutil.copyfile(path, Path(save_directory) / path.name)
        copied.append(path.name)
    return copied


class MMEmbedCheckpointMixin:
    """Mixed into `MMEmbedPreTrainedModel` before `PreTrainedModel`: complete checkpoints, checked input layers."""

    newly_initialized_weights: tuple[str, ...] = ()
    """
    The weights `from_pretrained` did not find in the checkpoint (missing, or of another shape with
    `ignore_mismatched_sizes=True`) and initialised at random: a pre-training checkpoint loaded for emotion recognition
    has a new `classifier`. Empty for a model built from a config (its weights are all as its builder meant them).
    """

    def save_pretrained(self, save_directory, *args, push_to_hub: bool = False, **kwargs):
        """
        As [`~transformers.PreTrainedModel.save_pretrained`] (which copies the model's own code), and copies the code
        transformers does not copy itself (`EXTRA_CODE_FILES`: the pipelines, `handler.py` for Inference
        Endpoints), so a checkpoint is complete with remote code.
        """
        super().save_pretrained(save_directory, *args, **kwargs)
        copy_extra_code_files(save_directory)
        if push_to_hub:
            repo_id = kwargs.pop("repo_id", os.path.basename(os.path.normpath(save_directory)))
            self.push_to_hub(repo_id, **{key: kwargs[key] for key in PUSH_KWARGS if key in kwargs})

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """
        As [`~transformers.PreTrainedModel.from_pretrained`], refusing a checkpoint whose input layers (feature sizes,
        audio subsampling, text kind) differ from the requested config unless `ignore_mismatched_sizes=True`, and
        recording the weights it initialised in `newly_initialized_weights`.
        """
        if pretrained_model_name_or_path is not None and not kwargs.get("ignore_mismatched_sizes", False):
            check_requested_input_layers(pretrained_model_name_or_path, kwargs)
        output_loading_info = kwargs.pop("output_loading_info", False)
        model, loading_info = super().from_pretrained(
            pretrained_model_name_or_path, *model_args, output_loading_info=True, **kwargs
        )
        new_weights = set(loading_info["missing_keys"]) | {key[0] for key in loading_info["mismatched_keys"]}
        model.newly_initialized_weights = tuple(sorted(new_weights))
        return (model, loading_info) if output_loading_info else model


HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder")


PUSH_KWARGS = ("commit_message", "private", "token", "create_pr", "revision", "commit_description", "max_shard_size")


def check_requested_input_layers(pretrained_model_name_or_path, from_pretrained_kwargs: dict) -> None:
    """
    `check_input_layers` for `from_pretrained`: the input-layer fields requested through `config=` or config
    keyword arguments, against the saved config. A changed `audio_subsampling` changes the convolution stack, which
    would otherwise load silently with missing and unexpected keys.
    """
    hub_kwargs = {key: from_pretrained_kwargs[key] for key in HUB_KWARGS if key in from_pretrained_kwargs}
    saved = MMEmbedConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
    requested = from_pretrained_kwargs.get("config")
    if isinstance(requested, MMEmbedConfig):
        wanted = {field: getattr(requested, field) for field in INPUT_LAYER_FIELDS}
    else:
        wanted = {
            field: from_pretrained_kwargs[field] for field in INPUT_LAYER_FIELDS if field in from_pretrained_kwargs
        }
    check_input_layers(pretrained_model_name_or_path, saved, wanted)


__all__ = ["EXTRA_CODE_FILES", "MMEmbedCheckpointMixin", "copy_extra_code_files"]
