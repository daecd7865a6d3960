# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
The code files a saved MMEmbed checkpoint carries beyond what transformers copies itself.

`save_pretrained` of a model, a processor, a tokenizer or a feature extractor registered for an auto class copies the
module of its class and that module's relative imports (`transformers.dynamic_module_utils.custom_object_save`). The
pipelines and the Inference Endpoints handler are no such class, so they are copied here, with their own relative
imports.
"""

import shutil
from pathlib import Path

from transformers.dynamic_module_utils import get_relative_import_files
from transformers.utils import logging

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


__all__ = ["EXTRA_CODE_FILES", "copy_extra_code_files"]
