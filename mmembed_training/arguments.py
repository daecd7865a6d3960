"""What a training run is asked to do: `RunArguments` (the stage, the corpus, the model) and how a YAML/JSON file and
command-line flags become them together with `transformers.TrainingArguments`."""

import json
import logging
from argparse import RawTextHelpFormatter
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from transformers import (
    HfArgumentParser,
    TrainingArguments,
)

from data_scripts.mosei import DEFAULT_OPTIONS as MOSEI_DEFAULTS

from . import RESOURCES
from .corpora import CORPORA
from .stages import STAGES

logger = logging.getLogger(__name__)


USAGE = """One training stage of mmembed (or the scoring of a saved model), with transformers' TrainingArguments.

  train.py                          the default run: the whole method on the built-in demo corpora
  train.py demo [--size full|long|quick|smoke] [--seeds 0 1 2] [--output_dir outputs/demo]
                                    the same with options (train.py demo --help)
  train.py [CONFIG.yaml] --stage STAGE [flags]
                                    one stage, from a config file and/or flags (flags win)
"""

COMMANDS = (*STAGES, "evaluate")
"""What `--stage` takes: a training stage, or `evaluate` (score a saved model)."""


@dataclass
class RunArguments:
    """What to train or evaluate, on which data (the optimisation settings are `TrainingArguments`)."""

    stage: str = field(default="emotion", metadata={"help": "What to do.", "choices": list(COMMANDS)})
    corpus: str = field(default="demo", metadata={"help": "Which data.", "choices": list(CORPORA)})
    data_dir: str | None = field(
        default=None, metadata={"help": "CMU-MOSEI folder (mosei), .pkl file (mosei_pickle), or manifest."}
    )
    audio_dir: str | None = field(default=None, metadata={"help": "CMU-MOSEI WAV_16000 folder (mosei_audio=wav)."})
    mosei_audio: str = field(default=MOSEI_DEFAULTS["audio"], metadata={"help": "covarep | wav"})
    mosei_visual: str | None = field(default=MOSEI_DEFAULTS["visual"], metadata={"help": "facet42 | openface2 | none"})
    mosei_text: str | None = field(default=MOSEI_DEFAULTS["text"], metadata={"help": "glove | tokens | words | none"})
    align_to_words: bool = field(default=False, metadata={"help": "Average audio/visual rows within words."})
    demo_root: str | None = field(default=None, metadata={"help": "Where the demo corpora are generated."})
    model_name_or_path: str | None = field(default=None, metadata={"help": "Checkpoint to start from (or evaluate)."})
    preset: str = field(default="tiny", metadata={"help": "Model preset when training from scratch."})
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "Config fields over the preset or checkpoint, as in transformers' run_clm.py: "
            "'num_source_layers=1,pooling=attention,learn_modality_weights=true'."
        },
    )
    audio_encoder: str | None = field(
        default=None,
        metadata={
            "help": "A pretrained speech encoder in front of the audio stream: a transformers model id or folder "
            "(WavLM, HuBERT, wav2vec 2.0, e.g. microsoft/wavlm-base-plus); the model then reads the raw waveform."
        },
    )
    text_encoder: str | None = field(
        default=None,
        metadata={
            "help": "A pretrained text encoder for the text stream: a model id or folder (e.g. bert-base-uncased)."
        },
    )
    encoder_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the pretrained encoders' own weights (default: --learning_rate)."},
    )
    modalities: list[str] | None = field(default=None, metadata={"help": "Subset used (ablations); default: all."})
    freeze_encoder: bool = field(default=False, metadata={"help": "Train the emotion/sentiment head only."})
    dropout: float | None = field(default=None, metadata={"help": "Set every dropout of a new or loaded model."})
    ctc_loss_weight: float | None = field(default=None, metadata={"help": "Share of the ASR loss given to CTC."})
    num_beams: int = field(
        default=4, metadata={"help": "Beams of the ASR scoring generate() (joint CTC/attention decoding with CTC)."}
    )
    resume: bool = field(default=False, metadata={"help": "Resume from the newest complete checkpoint in output_dir."})
    reinit_input_layers: bool = field(
        default=False, metadata={"help": "Re-initialise checkpoint input layers that do not fit the corpus."}
    )
    pos_weight_from_train: bool = field(default=True, metadata={"help": "Emotion BCE pos_weight from train counts."})
    tune_thresholds: bool = field(default=True, metadata={"help": "Tune emotion thresholds on validation."})
    early_stopping_patience: int | None = field(default=None, metadata={"help": "Evaluations without improvement."})
    eval_split: str = field(default="test", metadata={"help": "Split scored by the evaluate stage."})
    shuffled_labels: bool = field(
        default=False, metadata={"help": "Demo corpora: labels permuted within each split (the control)."}
    )
    train_fraction: float = field(
        default=1.0,
        metadata={
            "help": "Train on this fraction of the training items, drawn by a fixed shuffle, so that a smaller "
            "fraction is a subset of a larger one (label-efficiency curves); validation and test stay whole."
        },
    )
    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Your own dataset (--corpus dataset): a Hub id, a builder such as audiofolder (with --data_dir), "
            "or a folder written by save_to_disk."
        },
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "The dataset's configuration name."})
    train_file: str | None = field(default=None, metadata={"help": "A CSV or JSON Lines manifest of training rows."})
    validation_file: str | None = field(default=None, metadata={"help": "A manifest of validation rows."})
    test_file: str | None = field(default=None, metadata={"help": "A manifest of test rows."})
    train_split_name: str = field(default="train", metadata={"help": "The dataset's training split."})
    eval_split_name: str = field(
        default="validation", metadata={"help": "The dataset's validation split (missing: carved from train)."}
    )
    test_split_name: str = field(
        default="test", metadata={"help": "The dataset's test split (missing: carved from train)."}
    )
    audio_column_name: str = field(default="audio", metadata={"help": "The audio column (Audio, path or bytes)."})
    label_column_name: str = field(
        default="label", metadata={"help": "The label column; several comma-separated float columns: regression."}
    )
    visual_column_name: str | None = field(
        default=None, metadata={"help": "Visual frames per row: an array, or a .npy / OpenFace 2 CSV path."}
    )
    text_column_name: str | None = field(default=None, metadata={"help": "The transcript column."})
    group_column_name: str | None = field(
        default=None, metadata={"help": "Speaker or session: a carved validation split takes whole groups."}
    )
    max_length_seconds: float = field(default=30.0, metadata={"help": "Longest audio read (longer: refused)."})
    problem_type: str | None = field(
        default=None, metadata={"help": "Override what the label column suggests (single_label_classification, ...)."}
    )
    validation_fraction: float = field(
        default=0.15, metadata={"help": "Share of train carved into a missing validation / test split."}
    )
    streaming: bool = field(
        default=False,
        metadata={
            "help": "Pre-training: stream the training split, featurised in DataLoader workers (with --max_steps)."
        },
    )
    num_shards: int = field(
        default=8, metadata={"help": "--streaming a manifest: its Parquet shards (a multiple of processes x workers)."}
    )
    shuffle_buffer_size: int = field(
        default=1000, metadata={"help": "--streaming: rows in each shard's shuffle buffer."}
    )
    max_heldout_utterances: int | None = field(
        default=2000,
        metadata={"help": "Pre-training: utterances per held-out split at most (scored at each evaluation)."},
    )
    num_proc: int | None = field(default=None, metadata={"help": "Processes for dataset preparation."})
    dataset_cache_dir: str | None = field(default=None, metadata={"help": "Arrow cache of prepared datasets."})

    def __post_init__(self):
        if self.stage not in COMMANDS:
            raise ValueError(f"--stage must be one of {COMMANDS}, got {self.stage!r}.")
        if (self.dataset_name or self.train_file) and self.corpus == "demo":
            self.corpus = "dataset"  # naming a dataset of your own is choosing it
        if self.corpus not in CORPORA:
            raise ValueError(f"--corpus must be one of {tuple(CORPORA)}, got {self.corpus!r}.")
        for name in ("mosei_visual", "mosei_text"):
            if getattr(self, name) in ("none", "None", ""):
                setattr(self, name, None)
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"--train_fraction must be in (0, 1], got {self.train_fraction}.")
        if self.streaming and (self.stage != "pretrain" or self.train_fraction < 1):
            raise ValueError(
                "--streaming streams a pre-training corpus (--stage pretrain) whole (no --train_fraction)."
            )
        CORPORA[self.corpus].check_options(self)
        if (self.audio_encoder or self.text_encoder) and self.model_name_or_path:
            raise ValueError(
                "--audio_encoder / --text_encoder build a new model; a checkpoint (--model_name_or_path) keeps its "
                "own encoders."
            )


def parse_arguments(argv: list[str]) -> tuple[RunArguments, TrainingArguments]:
    """
    Dataclasses from a YAML/JSON file given first (optional) and command-line flags, which override it. The file is
    read as `HfArgumentParser.parse_yaml_file` reads it (typed values: mappings such as `lr_scheduler_kwargs: {min_lr:
    1.0e-5}` and lists stay what they are); its values become the parser's defaults, so any flag given wins.
    """
    parser = HfArgumentParser(
        (RunArguments, TrainingArguments), description=USAGE, formatter_class=RawTextHelpFormatter
    )
    say_what_no_flags_turn_off(parser)
    if not torch.accelerator.is_available():  # transformers refuses `--bf16` on a CPU-only machine without it
        parser.set_defaults(use_cpu=True)
    if argv and argv[0].endswith((".yaml", ".yml", ".json")):
        parser.set_defaults(**config_file_values(config_path(argv[0]), parser))
        argv = argv[1:]
    run, training = parser.parse_args_into_dataclasses(args=list(argv))
    if run.streaming and training.max_steps <= 0:
        raise ValueError("--streaming needs --max_steps: a streamed corpus is read epoch after epoch without an end.")
    if run.stage != "evaluate" and training.max_steps <= 0 and training.num_train_epochs <= 0:
        raise ValueError(
            f"--num_train_epochs is {training.num_train_epochs:g} and --max_steps is not set: nothing would be "
            "trained, yet an untrained model would be saved. Give a positive --num_train_epochs or --max_steps."
        )
    return run, training


def say_what_no_flags_turn_off(parser: HfArgumentParser) -> None:
    """
    `HfArgumentParser` gives each `--no_X` complement of a boolean flag the help of `--X` itself (so
    `--no_tune_thresholds` read "Tune emotion thresholds on validation."); say instead that it turns `--X` off.
    """
    for action in parser._actions:  # argparse keeps no public list of a parser's actions
        flag = next((option for option in action.option_strings if option.startswith("--no_")), None)
        if flag is not None and action.help:
            action.help = f"Turn off --{action.dest} ({action.help.rstrip('.')})."


def config_path(name: str) -> Path:
    """A config file by path, else a packaged preset by name (`mmembed-train demo.yaml` outside a checkout)."""
    path = Path(name)
    packaged = Path(str(RESOURCES / "configs" / path.name))
    if not path.is_file() and packaged.is_file():
        return packaged
    if not path.is_file():
        presets = sorted(item.name for item in (RESOURCES / "configs").iterdir())
        raise FileNotFoundError(f"No config file {name}; the packaged presets are {presets}.")
    return path


def config_file_values(path: Path, parser: HfArgumentParser) -> dict:
    """The mapping of argument names to values in a YAML or JSON file; names no dataclass has are refused."""
    if path.suffix == ".json":
        values = json.loads(path.read_text())
    else:
        import yaml

        values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of argument names to values.")
    known = {field.name for dtype in parser.dataclass_types for field in fields(dtype) if field.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{path} has keys that are no argument of train.py: {unknown}.")
    return values
