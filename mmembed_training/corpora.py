"""
The corpora `--corpus` names, one record each: which stages it serves and with which loader, which run options it
reads, and how a model card names it. A new corpus (the own-data route, another feature format) is a new
`CorpusSpec`, not new branches in the training code.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from data_scripts.prepared_corpus import PreparedCorpus


@dataclass(frozen=True)
class CorpusSpec:
    """
    One `--corpus` value.

    Attributes:
        name: the `--corpus` value.
        card_name: the dataset's name on a model card.
        loaders: `--stage` name -> `loader(run) -> PreparedCorpus`; the stages it serves.
        options: the `RunArguments` fields only some corpora read, which this one reads (name -> what it is).
        generated: built here from a seed (the demo corpora): no data license, the shuffled-label control.
        needs_data_dir: it is read from `--data_dir`.
        on_hub: `--dataset_name` may be a Hub dataset id, which the card's metadata then names (and links).
        unserved: what to do instead when a stage it does not serve is asked for.
        reads_audio: its loaders featurise raw audio and text strings with the feature extractor and text tokenizer
            they are given (`feature_extractor=`, `text_tokenizer=`): a model with pretrained encoders can train on it.
        language: the language of its speech and text (a card's `language`), where known.
        label_meaning: `--stage` name -> what a label means on the card (`{label}` and `{dataset}` are filled in).
        data_terms: the card's paragraph on the terms its data come with.
    """

    name: str
    card_name: str
    loaders: Mapping[str, Callable[..., PreparedCorpus]]
    options: Mapping[str, str]
    generated: bool = False
    needs_data_dir: bool = False
    on_hub: bool = False
    unserved: str = ""
    reads_audio: bool = False
    language: str | None = "en"
    label_meaning: Mapping[str, str] = field(default_factory=dict)
    data_terms: str = ""

    def load(self, run, stage: str, model_inputs: dict | None = None) -> PreparedCorpus:
        """
        The corpus `stage` trains and evaluates on, its audio and text made by `model_inputs` (`feature_extractor`,
        `text_tokenizer`: a model with pretrained encoders; default fbank and characters). A stage it does not serve,
        a missing `--data_dir`, or encoders' inputs asked of a corpus that comes as features, stop.
        """
        if stage not in self.loaders:
            raise ValueError(
                f"--corpus {self.name} serves --stage {' / '.join(self.loaders)}, not {stage}. {self.unserved}".strip()
            )
        if self.needs_data_dir and not run.data_dir:
            raise ValueError(f"--corpus {self.name} needs --data_dir ({self.options['data_dir']}).")
        if model_inputs and not self.reads_audio:
            readers = " / ".join(name for name, spec in CORPORA.items() if spec.reads_audio)
            raise ValueError(
                f"--corpus {self.name} comes as features; pretrained encoders (--audio_encoder / --text_encoder) read "
                f"raw audio and text: use --corpus {readers}."
            )
        return self.loaders[stage](run, **(model_inputs or {}))

    def dataset_name(self, run) -> str:
        """The dataset's name on a model card (a dataset of your own: its `--dataset_name` or manifest)."""
        return self.card_name.format(dataset=run.dataset_name or Path(run.train_file or "").name)

    def hub_dataset_ids(self, run) -> list[str]:
        """The Hub dataset ids a card names: `--dataset_name` when it is one (not a local folder), else none."""
        name = run.dataset_name
        return [name] if self.on_hub and name and not Path(name).exists() and not Path(name).is_absolute() else []

    def check_options(self, run) -> None:
        """Refuse options set away from their defaults that this corpus does not read (they would be ignored)."""
        defaults = {option.name: option.default for option in fields(run)}
        for option, users in corpora_reading_each_option().items():
            if option not in self.options and getattr(run, option) != defaults[option]:
                what = CORPORA[users[0]].options[option]
                raise ValueError(
                    f"--{option} is not read with --corpus {self.name}: it is {what}, for --corpus "
                    f"{' / '.join(users)}."
                )


def demo_pretraining(run, **model_inputs) -> PreparedCorpus:
    from data_scripts.demo_corpus import DemoCorpora
    from data_scripts.pretraining_corpus import build_pretraining_corpus

    manifest = DemoCorpora.prepare(run.demo_root).speech_manifest
    return build_pretraining_corpus(manifest, **pretraining_options(run), **model_inputs)


def demo_emotion(run, **model_inputs) -> PreparedCorpus:
    from data_scripts.demo_corpus import DemoCorpora

    corpora = DemoCorpora.prepare(run.demo_root)
    return corpora.load_emotion(cache_dir=run.dataset_cache_dir, shuffled_labels=run.shuffled_labels, **model_inputs)


def demo_mosei(run) -> PreparedCorpus:
    from data_scripts.demo_corpus import DemoCorpora
    from data_scripts.label_control import with_shuffled_labels
    from data_scripts.mosei import load_mosei

    mosei = load_mosei(DemoCorpora.prepare(run.demo_root).mosei_dir, cache_dir=run.dataset_cache_dir)
    return with_shuffled_labels(mosei) if run.shuffled_labels else mosei


def mosei_csd(run) -> PreparedCorpus:
    from data_scripts.mosei import load_mosei

    return load_mosei(
        run.data_dir,
        audio=run.mosei_audio,
        visual=run.mosei_visual,
        text=run.mosei_text,
        align_to_words=run.align_to_words,
        audio_dir=run.audio_dir,
        cache_dir=run.dataset_cache_dir,
        num_proc=run.num_proc,
    )


def mosei_pickle(run) -> PreparedCorpus:
    from data_scripts.mosei_pickle import load_mosei_pickle

    return load_mosei_pickle(run.data_dir, cache_dir=run.dataset_cache_dir)


def labelled_dataset(run, **model_inputs) -> PreparedCorpus:
    from data_scripts.labelled_dataset import DatasetOptions, load_labelled_dataset

    options = DatasetOptions(**{name: getattr(run, name) for name in DATASET_OPTIONS})
    return load_labelled_dataset(options, cache_dir=run.dataset_cache_dir, num_proc=run.num_proc, **model_inputs)


def manifest_pretraining(run, **model_inputs) -> PreparedCorpus:
    from data_scripts.pretraining_corpus import build_pretraining_corpus

    return build_pretraining_corpus(run.data_dir, **pretraining_options(run), **model_inputs)


def pretraining_options(run) -> dict:
    return {
        "cache_dir": run.dataset_cache_dir,
        "num_proc": run.num_proc,
        "streaming": run.streaming,
        "num_shards": run.num_shards,
        "shuffle_buffer_size": run.shuffle_buffer_size,
        "max_heldout_utterances": run.max_heldout_utterances,
    }


STREAM_OPTIONS = {  # pre-training corpora's
    "max_heldout_utterances": "the size of a pre-training corpus's held-out splits",
    "streaming": "streaming a pre-training corpus",
    "num_shards": "the shards a streamed manifest is written as",
    "shuffle_buffer_size": "the shuffle buffer of a streamed corpus",
}
DEMO_OPTIONS = {
    "demo_root": "where the demo corpora are generated",
    "shuffled_labels": "the demo corpora's control (labels permuted within each split)",
    **STREAM_OPTIONS,
}
MOSEI_OPTIONS = {
    "data_dir": "the folder of CMU-MOSEI .csd files (or an MMSA/MulT .pkl file)",
    "mosei_audio": "the CMU-MOSEI audio features to read",
    "mosei_visual": "the CMU-MOSEI visual features to read",
    "mosei_text": "the CMU-MOSEI text features to read",
    "align_to_words": "CMU-MOSEI's averaging of audio/visual rows within words",
    "audio_dir": "CMU-MOSEI's WAV_16000 folder",
}

DATASET_OPTIONS = {
    "dataset_name": "a Hub dataset id, a builder (audiofolder, csv, json) or a save_to_disk folder",
    "dataset_config_name": "the dataset's configuration",
    "data_dir": "the folder of the dataset's files (audiofolder), or CMU-MOSEI's",
    "train_file": "a CSV / JSON Lines manifest of training examples",
    "validation_file": "a CSV / JSON Lines manifest of validation examples",
    "test_file": "a CSV / JSON Lines manifest of test examples",
    "train_split_name": "the dataset's training split",
    "eval_split_name": "the dataset's validation split",
    "test_split_name": "the dataset's test split",
    "audio_column_name": "the dataset's audio column",
    "label_column_name": "the dataset's label column(s)",
    "visual_column_name": "the dataset's visual column",
    "text_column_name": "the dataset's transcript column",
    "group_column_name": "the column a carved validation split keeps whole (speaker, session)",
    "max_length_seconds": "the longest audio read from a dataset",
    "problem_type": "the problem a dataset's labels pose",
    "validation_fraction": "the share of train carved into a missing validation or test split",
}

PRETRAIN_ON_SPEECH = "Pre-train on audio-visual speech: --corpus manifest --data_dir MANIFEST."

DEMO = CorpusSpec(
    name="demo",
    card_name="mmembed demo corpora (synthetic)",
    loaders={"pretrain": demo_pretraining, "emotion": demo_emotion, "sentiment": demo_emotion},
    options=DEMO_OPTIONS,
    generated=True,
    reads_audio=True,
    label_meaning={
        "emotion": "present when the generator planted the demo's cue for {label} in the synthetic utterance (a "
        "pattern in its prosody, its face features or its words: docs/training.md lists each)",
        "sentiment": "the sentiment the generator gave the synthetic utterance, from -3 (negative) to +3 (positive)",
    },
    data_terms="Generated by mmembed (`data_scripts/demo_corpus.py`): espeak-ng speech and generated visual "
    "features, with no third-party recordings and no data terms of their own.",
)
MOSEI = CorpusSpec(
    name="mosei",
    card_name="CMU-MOSEI",
    loaders={"emotion": mosei_csd, "sentiment": mosei_csd},
    options=MOSEI_OPTIONS,
    needs_data_dir=True,
    unserved=PRETRAIN_ON_SPEECH,
    label_meaning={
        "emotion": "{label} is present in the segment: the mean of three annotators' ratings of its intensity "
        "(0-3) is above 0; several emotions can be present at once",
        "sentiment": "the segment's sentiment, the mean of three annotators' ratings from -3 (highly negative) "
        "to +3 (highly positive)",
    },
    data_terms="CMU-MOSEI is distributed by CMU for research under its own terms (the videos remain their owners'); "
    "check that your use of a model trained on it is allowed by them.",
)
CORPORA = {
    spec.name: spec
    for spec in (
        DEMO,
        replace(  # the same demo corpora's CMU-MOSEI-format set
            DEMO,
            name="demo-mosei",
            card_name="mmembed CMU-MOSEI-format demo (synthetic)",
            loaders={"emotion": demo_mosei, "sentiment": demo_mosei},
            unserved="Pre-train on --corpus demo (its speech corpus).",
            reads_audio=False,
        ),
        MOSEI,
        replace(  # CMU-MOSEI as the MMSA / MulT toolkits publish it
            MOSEI,
            name="mosei_pickle",
            card_name="CMU-MOSEI (MMSA / MulT feature pickle)",
            loaders={"sentiment": mosei_pickle},
            options={"data_dir": "the MMSA or MulT .pkl file"},
            unserved="The pickle has no emotion labels (MMSA and MulT pickles publish sentiment only): train --stage "
            "sentiment on it, or emotions on the CMU SDK .csd files (--corpus mosei).",
        ),
        CorpusSpec(
            name="dataset",
            card_name="{dataset}",
            loaders={"emotion": labelled_dataset, "sentiment": labelled_dataset},
            options=DATASET_OPTIONS,
            on_hub=True,
            unserved=PRETRAIN_ON_SPEECH,
            reads_audio=True,
            language=None,
            label_meaning=dict.fromkeys(
                ("emotion", "sentiment", "multilabel", "classification", "regression"),
                "the label `{label}` of {dataset}, as it defines it",
            ),
            data_terms="The training data's own licence applies ({dataset}); check that your use of a model trained "
            "on it is allowed by it.",
        ),
        CorpusSpec(
            name="manifest",
            card_name="audio-visual speech (VoxCeleb2/LRS3 style)",
            loaders={"pretrain": manifest_pretraining},
            options={
                "data_dir": "the pre-training manifest or shard folder (mmembed-shard)",
                **STREAM_OPTIONS,
            },
            needs_data_dir=True,
            unserved="A manifest is pre-training speech; tune emotions on --corpus mosei, demo or demo-mosei.",
            reads_audio=True,
            language=None,
            data_terms="The licence of the speech corpus the manifest lists applies (VoxCeleb2 and LRS3, the "
            "corpora of the paper, are released for research under their own terms); check that your use of a model "
            "trained on it is allowed by it.",
        ),
    )
}
"""The corpora by `--corpus` name."""


def corpora_reading_each_option() -> dict[str, list[str]]:
    """Each corpus-specific option -> the corpora that read it."""
    users = {}
    for spec in CORPORA.values():
        for option in spec.options:
            users.setdefault(option, []).append(spec.name)
    return users


__all__ = ["CORPORA", "CorpusSpec"]
