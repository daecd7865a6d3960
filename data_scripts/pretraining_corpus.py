"""
The pre-training corpus (person identification + ASR) from a manifest of audio-visual speech, VoxCeleb2/LRS3 style.

A manifest is JSON Lines or CSV with one utterance per row: `id`, `audio` (path), `speaker`, `transcript`, and
optionally `visual` (a `(frames, features)` `.npy` or an OpenFace 2 CSV) and `text` (a string, tokenised into
`text_input_ids`). Relative paths are relative to the manifest's folder.

    from data_scripts.pretraining_corpus import build_pretraining_corpus, manifest_from_tree
    manifest_from_tree("vox2/dev/aac", "transcripts.tsv", "manifest.jsonl")      # <speaker>/<video>/<utt>.<ext>
    corpus = build_pretraining_corpus("manifest.jsonl", cache_dir="cache", num_proc=2)
    corpus["train"], corpus["validation_sentence"], corpus["test_sentence"], corpus.skipped

Splits: `validation_sentence` and `test_sentence` each hold every utterance of a held-out set of sentences (normalised
transcripts), so ASR is measured on sentences the decoder never saw; `validation_speaker` and `test_speaker` hold
held-out utterances of speakers that remain in `train` (for person-id accuracy); `train` the rest. Training chooses
its checkpoint on the validation splits; the test splits are scored once, at the end. Bad rows are skipped and
reported by row id (`skipped`), or raise
with `strict=True`. The Arrow cache is keyed on the rows and on the size, modification and inode-change time of every
audio and visual file (`cache_fingerprint`): a file replaced in place rebuilds the split.

At VoxCeleb2 scale, stream the training split instead (`streaming=True`, or a folder of Parquet shards written by
`mmembed-shard`, `pretraining_shards.py`): it is featurised as it is read, in a resumable order
(`pretraining_stream.py`), and the held-out splits, capped by `max_heldout_utterances`, stay cached.
"""

import csv
import io
import json
import logging
import random
from collections import Counter
from pathlib import Path

import datasets
import numpy as np

from modeling_mmembed.array_checks_mmembed import check_finite
from modeling_mmembed.configuration_mmembed import MMEmbedConfig
from modeling_mmembed.tokenization_mmembed import normalize_transcript

from .cache_fingerprint import cached_split
from .model_inputs import InputFeaturizer, audio_feature, feature_extractor_config
from .prepared_corpus import PreparedCorpus

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".m4a", ".mp4")
SPLIT_NAMES = ("train", "validation_speaker", "validation_sentence", "test_speaker", "test_sentence")


def read_manifest(path) -> list:
    """
    Rows of a JSON Lines (`.jsonl`/`.json`) or CSV manifest, with paths made absolute. A JSON line that is valid but
    not an object is kept as it is (and skipped as a bad row by the builder); a line that is not JSON is an error
    naming the line.
    """
    path = Path(path)
    if path.suffix in (".jsonl", ".json"):
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path} line {number} is not valid JSON ({error}).") from None
    elif path.suffix in (".csv", ".tsv"):
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ","))
    else:
        raise ValueError(f"Manifest {path} must be .jsonl or .csv/.tsv.")
    for row in rows:
        for key in ("audio", "visual"):
            if isinstance(row, dict) and isinstance(row.get(key), str) and row[key]:
                row[key] = str((path.parent / row[key]).resolve())
    return rows


def write_manifest(rows: list[dict], path) -> Path:
    """Write rows as JSON Lines (one object per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def manifest_from_tree(audio_root, transcripts, output, visual_root=None) -> Path:
    """
    A manifest for a VoxCeleb2/LRS3-style tree `<speaker>/<video>/<utterance>.<ext>`. `transcripts` is a CSV/TSV
    with columns `id` (`speaker/video/utterance`) and `transcript`. With `visual_root`, `<same path>.npy` or `.csv`
    there is the utterance's visual input. Utterances without a transcript are left out (and counted in the log).
    """
    audio_root = Path(audio_root)
    separator = "\t" if str(transcripts).endswith(".tsv") else ","
    with open(transcripts, newline="", encoding="utf-8") as handle:
        texts = {row["id"]: row["transcript"] for row in csv.DictReader(handle, delimiter=separator)}
    rows, untranscribed = [], 0
    for audio in sorted(audio_root.glob("*/*/*")):
        if audio.suffix.lower() not in AUDIO_EXTENSIONS:
            continue
        speaker, video, utterance = audio.relative_to(audio_root).with_suffix("").parts
        utterance_id = f"{speaker}/{video}/{utterance}"
        if utterance_id not in texts:
            untranscribed += 1
            continue
        row = {
            "id": utterance_id,
            "audio": str(audio.resolve()),
            "speaker": speaker,
            "transcript": texts[utterance_id],
        }
        if visual_root is not None:
            for suffix in (".npy", ".csv"):
                visual = Path(visual_root) / f"{utterance_id}{suffix}"
                if visual.is_file():
                    row["visual"] = str(visual.resolve())
        rows.append(row)
    if untranscribed:
        logger.info("manifest_from_tree: %d audio files without a transcript left out", untranscribed)
    return write_manifest(rows, output)


MIN_AUDIO_SECONDS = 0.025
"""One 25 ms fbank frame: shorter audio has no feature frame at all."""


class RowChecker:
    """
    Why a manifest row cannot be used (`problem(row)`, None when it can), row after row: later rows are compared
    with the earlier ones (a repeated id; a visual file of another width than the first usable one).
    """

    def __init__(self, visual_columns: str, max_transcript_tokens: int, check_files: bool = True):
        from modeling_mmembed import MMEmbedTokenizer

        self.visual_columns, self.max_transcript_tokens = visual_columns, max_transcript_tokens
        self.check_files = check_files
        self.tokenizer = MMEmbedTokenizer()
        self.first_row_of: dict[str, int] = {}
        self.visual_width: int | None = None

    def problem(self, number: int, row) -> str | None:
        if not isinstance(row, dict):
            return f"not a JSON object but a {type(row).__name__}"
        row_id = str(row.get("id") or "").strip()
        if not row_id:
            return "no id"
        if row_id in self.first_row_of:
            return f"duplicate id (first in row {self.first_row_of[row_id]}, which is kept)"
        problem = self._fields_problem(row) or self.files_problem(row)
        if problem is None:
            self.first_row_of[row_id] = number
        return problem

    def _fields_problem(self, row: dict) -> str | None:
        speaker, transcript, text = row.get("speaker"), row.get("transcript"), row.get("text")
        if not isinstance(speaker, str) or not speaker.strip() or speaker != speaker.strip():
            return f"malformed speaker {speaker!r}"
        if not isinstance(transcript, str):
            return f"transcript is not a string but a {type(transcript).__name__}"
        if not normalize_transcript(transcript):
            return "empty transcript"
        tokens = len(self.tokenizer(transcript)["input_ids"])
        if tokens > self.max_transcript_tokens:
            return (
                f"transcript of {tokens} tokens (characters + eos) is longer than the decoder's "
                f"max_target_positions={self.max_transcript_tokens}"
            )
        if text is not None and not isinstance(text, str):
            return f"text is not a string but a {type(text).__name__}"
        return None

    def files_problem(self, row: dict) -> str | None:
        """
        What is wrong with the row's audio or visual file (None: nothing). Without `check_files` only the first
        visual file is read (for the corpus's width): the others are checked where they are streamed.
        """
        if not self.check_files:
            return None if self.visual_width is not None else self._visual_problem(row)
        return _audio_problem(row.get("audio")) or self._visual_problem(row)

    def _visual_problem(self, row: dict) -> str | None:
        visual = row.get("visual")
        if not visual:
            return None
        if not Path(visual).is_file():
            return f"missing visual file {visual}"
        try:
            width = _visual_width(visual, self.visual_columns)
        except ValueError as error:
            return str(error)
        if self.visual_width is not None and width != self.visual_width:
            return f"visual file {visual} has {width} features per frame; the corpus has {self.visual_width}"
        self.visual_width = width
        return None


def _audio_problem(audio) -> str | None:
    import soundfile

    if not isinstance(audio, str) or not audio or not Path(audio).is_file():
        return f"missing audio file {audio}"
    if Path(audio).suffix.lower() in (".m4a", ".mp4"):
        return None
    try:
        info = soundfile.info(audio)
    except Exception as error:  # noqa: BLE001 - soundfile raises several types for unreadable files
        return f"unreadable audio file {audio} ({error})"
    if info.frames < MIN_AUDIO_SECONDS * info.samplerate:
        return f"audio file {audio} lasts {info.duration * 1000:.1f} ms, shorter than one 25 ms frame"
    return None


def _visual_width(path: str, visual_columns: str) -> int:
    """Features per frame of a visual file, read from its header; `ValueError` naming what is wrong with it."""
    from modeling_mmembed.openface_mmembed import openface_columns, read_openface_header

    if not path.endswith(".npy"):
        return len(openface_columns(read_openface_header(path), visual_columns))
    try:
        frames = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:  # object arrays (pickles) and broken headers
        raise ValueError(f"visual file {path} is not a plain numeric .npy array ({error})") from None
    if frames.ndim != 2 or frames.shape[0] == 0 or frames.dtype.kind not in "fiu":
        raise ValueError(
            f"visual file {path} must hold a numeric (frames, features) array with frames; got {frames.dtype} "
            f"{frames.shape}"
        )
    check_finite(frames, f"visual file {path}")
    return frames.shape[1]


def checked_rows(manifest, visual_columns: str, max_transcript_tokens: int, check_files: bool = True):
    """The usable rows of `manifest`, the `(row id, reason)` of the others, and the `RowChecker` that checked them."""
    checker = RowChecker(visual_columns, max_transcript_tokens, check_files=check_files)
    rows, skipped = [], []
    for number, row in enumerate(read_manifest(manifest)):
        problem = checker.problem(number, row)
        if problem is None:
            rows.append(row)
        else:
            row_id = row.get("id") if isinstance(row, dict) else None
            skipped.append((str(row_id or f"row {number}"), problem))
    return rows, skipped, checker


def assign_splits(
    rows: list[dict],
    heldout_sentence_fraction: float,
    heldout_utterance_fraction: float,
    seed: int,
    max_heldout_utterances: int | None = None,
) -> dict[str, list[dict]]:
    """
    Held-out sentences first (every utterance of them; `heldout_sentence_fraction` of the sentences for validation and
    as many others for test), then per speaker `heldout_utterance_fraction` of the remaining utterances for validation
    and as many for test, always leaving each speaker at least one training utterance. With `max_heldout_utterances`
    each held-out split holds at most that many utterances (at VoxCeleb2 scale a tenth would be 100,000 utterances
    to score at each evaluation): fewer sentences are held out, and speaker utterances beyond it stay in training.
    """
    generator = random.Random(seed)
    spoken = Counter(normalize_transcript(row["transcript"]) for row in rows)
    sentences = sorted(spoken)
    count = round(len(sentences) * heldout_sentence_fraction)
    drawn = generator.sample(sentences, min(2 * count, len(sentences)))
    sentence_split = {}
    for name, candidates in (("validation_sentence", drawn[:count]), ("test_sentence", drawn[count:])):
        held = 0
        for sentence in candidates:
            if max_heldout_utterances is not None and held + spoken[sentence] > max_heldout_utterances:
                break
            sentence_split[sentence], held = name, held + spoken[sentence]
    splits = {name: [] for name in SPLIT_NAMES}
    by_speaker: dict[str, list[dict]] = {}
    for row in rows:
        held_out = sentence_split.get(normalize_transcript(row["transcript"]))
        if held_out:
            splits[held_out].append(row)
        else:
            by_speaker.setdefault(row["speaker"], []).append(row)
    for speaker in sorted(by_speaker):
        utterances = by_speaker[speaker]
        count = min(round(len(utterances) * heldout_utterance_fraction), (len(utterances) - 1) // 2)
        order = generator.sample(range(len(utterances)), len(utterances))
        held_out = {index: "validation_speaker" for index in order[:count]}
        held_out.update({index: "test_speaker" for index in order[count : 2 * count]})
        for index, row in enumerate(utterances):
            splits[held_out.get(index, "train")].append(row)
    for name in ("validation_speaker", "test_speaker"):
        if max_heldout_utterances is not None and len(splits[name]) > max_heldout_utterances:
            kept = set(generator.sample(range(len(splits[name])), max_heldout_utterances))
            splits["train"] += [row for index, row in enumerate(splits[name]) if index not in kept]
            splits[name] = [row for index, row in enumerate(splits[name]) if index in kept]
    return splits


def _examples(
    rows: list[dict],
    speakers: list[str],
    feature_dtype: str,
    visual_columns: str,
    schema: dict,
    extractor_config: dict,
    text_tokenizer=None,
):
    """
    Examples of `rows` (audio featurised here, once, by a feature extractor built from `extractor_config`, which is
    also part of the cache fingerprint); optional columns are empty where a row lacks them.
    """
    featurize = RowFeaturizer(speakers, feature_dtype, visual_columns, schema, extractor_config, text_tokenizer)
    for row in rows:
        yield featurize(row)


class RowFeaturizer:
    """
    A manifest row (`audio` and `visual` paths) or a shard row (`audio_bytes` / `visual_npy`, with the paths they
    came from) -> a training example: its audio by a feature extractor built from `extractor_config` (fbank, or a
    speech encoder's waveform), the speaker's class, the transcript's characters, the text's tokens (characters or
    `text_tokenizer`'s); optional columns empty where the row lacks them. Errors name the row's files.
    """

    def __init__(
        self, speakers, feature_dtype: str, visual_columns: str, schema: dict, extractor_config: dict, text_tokenizer
    ):
        from modeling_mmembed import MMEmbedTokenizer

        self.featurize, self.tokenizer = InputFeaturizer(extractor_config, text_tokenizer), MMEmbedTokenizer()
        self.speaker_index = {speaker: index for index, speaker in enumerate(speakers)}
        self.feature_dtype, self.visual_columns, self.schema = feature_dtype, visual_columns, schema

    def __call__(self, row: dict) -> dict:
        from modeling_mmembed.audio_mmembed import load_audio_file

        audio = row.get("audio_path") or row.get("audio")
        if row.get("audio_bytes") is not None:
            samples, rate = load_audio_file(io.BytesIO(row["audio_bytes"]), name=audio)
            features = self.featurize.audio(samples, rate, name=audio)
        else:
            features = self.featurize.audio(audio, name=audio)
        example = {
            "id": row["id"],
            self.featurize.audio_column: features.astype(self.feature_dtype),
            "speaker_labels": self.speaker_index[row["speaker"]],
            "labels": self.tokenizer(row["transcript"])["input_ids"],
            "transcript": normalize_transcript(row["transcript"]),
        }
        if "visual_size" in self.schema:
            example["visual_features"] = self._visual(row)
        if self.schema["text"]:
            text = row.get("text") or ""
            example["text_input_ids"] = self.featurize.text_ids(text)
        return example

    def _visual(self, row: dict) -> np.ndarray:
        width, path = self.schema["visual_size"], row.get("visual_path") or row.get("visual")
        if row.get("visual_npy") is not None:
            frames = np.load(io.BytesIO(row["visual_npy"]), allow_pickle=False)
        elif path:
            frames = read_visual_frames(path, self.visual_columns)
        else:
            return np.zeros((0, width), dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != width:
            raise ValueError(f"visual file {path} has frames of shape {frames.shape}; the corpus has {width} features")
        check_finite(frames, f"visual file {path}")
        return np.asarray(frames, dtype=np.float32)


def source_files(rows: list[dict]) -> list[str]:
    """The audio and visual files of `rows`: the cache key follows their content (`cache_fingerprint`)."""
    return [row[key] for row in rows for key in ("audio", "visual") if row.get(key)]


def read_visual_frames(path: str, visual_columns: str) -> np.ndarray:
    """The frames of a visual file (`.npy`, or the `visual_columns` of an OpenFace 2 CSV) as float32."""
    from modeling_mmembed import read_openface_csv

    frames = np.load(path, allow_pickle=False) if path.endswith(".npy") else read_openface_csv(path, visual_columns)
    return np.asarray(frames, dtype=np.float32)


def _features(speakers: list[str], feature_dtype: str, schema: dict, extractor_config: dict) -> datasets.Features:
    features = {
        "id": datasets.Value("string"),
        **audio_feature(extractor_config, feature_dtype),
        "speaker_labels": datasets.ClassLabel(names=speakers),
        "labels": datasets.List(datasets.Value("int32")),
        "transcript": datasets.Value("string"),
    }
    if "visual_size" in schema:
        features["visual_features"] = datasets.Array2D(shape=(None, schema["visual_size"]), dtype="float32")
    if schema["text"]:
        features["text_input_ids"] = datasets.List(datasets.Value("int32"))
    return datasets.Features(features)


def build_pretraining_corpus(
    manifest,
    *,
    cache_dir=None,
    num_proc: int | None = None,
    feature_dtype: str = "float16",
    heldout_sentence_fraction: float = 0.1,
    heldout_utterance_fraction: float = 0.1,
    max_heldout_utterances: int | None = None,
    visual_columns: str = "action_units",
    seed: int = 0,
    strict: bool = False,
    streaming: bool = False,
    num_shards: int = 8,
    shuffle_buffer_size: int = 1000,
    max_transcript_tokens: int = MMEmbedConfig.max_target_positions,
    feature_extractor=None,
    text_tokenizer=None,
) -> PreparedCorpus:
    """
    The pre-training `PreparedCorpus` (splits `train`, `validation_speaker`, `validation_sentence`, `test_speaker`,
    `test_sentence`) with columns `id`,
    `input_features` (fbank, `feature_dtype`; or `input_values`), `speaker_labels` (`ClassLabel` of the speaker names),
    `labels` (transcript characters + eos), `transcript` (normalised), and `visual_features` / `text_input_ids`
    when the manifest has them (empty for rows without). Audio is featurised by
    `feature_extractor` (default: `MMEmbedFeatureExtractor()`; a speech encoder's extractor makes the waveform
    `input_values` instead), whose settings the result keeps as `feature_extractor_config` (a model trained on it is
    saved with that extractor), and `text` by `text_tokenizer` (default: characters). Its `report["skipped"]`
    lists `(row id, reason)` of the bad rows: a row that is not an object, without id or speaker, a
    repeated id (the later row), a transcript that is not a string, empty or longer than `max_transcript_tokens`
    (the decoder's `max_target_positions`), a `text` that is not a string, audio missing, unreadable or shorter than
    one 25 ms frame, a visual file missing, pickled, not 2-D numeric, or of another width than the first usable one.
    The splits are `assign_splits`'s (held-out fractions, at most `max_heldout_utterances` per held-out split).

    `streaming=True` (or `manifest` a shard folder written by `mmembed-shard`) streams `train`: a
    `datasets.IterableDataset` featurised as it is read, in a resumable shuffled order (`corpus.stream`, a
    `PretrainingStream`, `shuffle_buffer_size`), while the held-out splits, small, are cached as above. A manifest is
    then first written as `num_shards` Parquet shards of paths in the cache, its rows' files checked as they are
    streamed (bad ones skipped and counted there) instead of all before the first step.
    """
    if feature_dtype not in ("float16", "float32"):
        raise ValueError(f"feature_dtype must be 'float16' or 'float32', got {feature_dtype!r}.")
    from .pretraining_shards import is_shard_folder

    if streaming or is_shard_folder(manifest):
        folder = manifest
        if not is_shard_folder(manifest):
            folder = path_shards(
                manifest, cache_dir, num_shards, heldout_sentence_fraction, heldout_utterance_fraction,
                max_heldout_utterances, visual_columns, seed, max_transcript_tokens,
            )  # fmt: skip
        return load_shard_corpus(
            folder, cache_dir=cache_dir, num_proc=num_proc, feature_dtype=feature_dtype, seed=seed, strict=strict,
            shuffle_buffer_size=shuffle_buffer_size, feature_extractor=feature_extractor,
            text_tokenizer=text_tokenizer,
        )  # fmt: skip
    rows, skipped, checker = checked_rows(manifest, visual_columns, max_transcript_tokens)
    report_skipped(manifest, skipped, strict)
    if not rows:
        raise ValueError(f"{manifest} has no usable rows.")
    speakers = sorted({row["speaker"] for row in rows})
    text = any(row.get("text") for row in rows)
    features, generator_kwargs = featurisation(
        speakers, text, checker.visual_width, feature_dtype, visual_columns, feature_extractor, text_tokenizer
    )
    built = {}
    splits = assign_splits(rows, heldout_sentence_fraction, heldout_utterance_fraction, seed, max_heldout_utterances)
    for name, split_rows in splits.items():
        built[name] = cached_rows(
            split_rows, generator_kwargs, features, source_files(split_rows), name, cache_dir, num_proc
        )
    return PreparedCorpus(datasets.DatasetDict(built), generator_kwargs["extractor_config"], {"skipped": skipped})


def featurisation(
    speakers, text: bool, visual_size: int | None, feature_dtype: str, visual_columns: str, extractor, text_tokenizer
):
    """
    The `datasets.Features` of a corpus's examples and the `RowFeaturizer` arguments that make them (the generators'
    keyword arguments, part of the cache key): its speakers, whether it has text, its visual width (None: no visual),
    the feature extractor's settings (`feature_extractor_config(extractor)`) and the text tokenizer (None: characters).
    """
    schema = {"text": bool(text)} | ({"visual_size": visual_size} if visual_size is not None else {})
    extractor_config = feature_extractor_config(extractor)
    featurizer = {
        "speakers": tuple(speakers),  # a tuple: datasets shards over lists only
        "feature_dtype": feature_dtype,
        "visual_columns": visual_columns,
        "schema": schema,
        "extractor_config": extractor_config,
        "text_tokenizer": text_tokenizer,
    }
    return _features(list(speakers), feature_dtype, schema, extractor_config), featurizer


def empty_split(features) -> datasets.Dataset:
    """A split without examples, with the corpus's columns."""
    return datasets.Dataset.from_dict({key: [] for key in features}, features=features)


def report_skipped(source, skipped: list, strict: bool) -> None:
    """Log the bad rows of `source`, or with `strict` refuse it naming them."""
    if skipped:
        message = "; ".join(f"{row_id}: {problem}" for row_id, problem in skipped)
        if strict:
            raise ValueError(f"{source}: {len(skipped)} bad rows: {message}")
        logger.warning("%s: skipped %d bad rows: %s", source, len(skipped), message)


def cached_rows(rows, generator_kwargs: dict, features, files, name: str, cache_dir, num_proc):
    """One split of featurised `rows`, cached (`cached_split`), or empty."""
    if not rows:
        return empty_split(features)
    return cached_split(_examples, {"rows": rows, **generator_kwargs}, features, files, name, cache_dir, num_proc)


def path_shards(manifest, cache_dir, num_shards: int, *split_options) -> Path:
    """
    `manifest` written as Parquet shards of paths (`write_shards(embed_audio=False)`) under `cache_dir` (default: the
    datasets cache), once per manifest content and split options: its rows' fields are checked, its files are not.
    """
    import hashlib

    from filelock import FileLock

    from .cache_fingerprint import file_signatures
    from .pretraining_shards import is_shard_folder, write_shards

    heldout_sentence, heldout_utterance, max_heldout, visual_columns, seed, max_tokens = split_options
    key = hashlib.sha256(repr((file_signatures([manifest]), num_shards, split_options)).encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else Path(datasets.config.HF_DATASETS_CACHE)
    folder = root / "mmembed-pretraining-shards" / key
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):  # every process of a run prepares its corpus: one writes, the others wait
        if not is_shard_folder(folder):
            write_shards(
                manifest, folder, num_shards=num_shards, embed_audio=False, heldout_sentence_fraction=heldout_sentence,
                heldout_utterance_fraction=heldout_utterance, max_heldout_utterances=max_heldout,
                visual_columns=visual_columns, seed=seed,
                max_transcript_tokens=max_tokens, check_files=False,
            )  # fmt: skip
    return folder


def load_shard_corpus(
    folder,
    *,
    cache_dir=None,
    num_proc: int | None = None,
    feature_dtype: str = "float16",
    seed: int = 0,
    strict: bool = False,
    shuffle_buffer_size: int = 1000,
    feature_extractor=None,
    text_tokenizer=None,
) -> PreparedCorpus:
    """The corpus of a shard folder: `train` streamed (`PretrainingStream`), the held-out splits cached."""
    from .pretraining_shards import read_shard_index, shard_rows
    from .pretraining_stream import STREAM_COLUMNS, PretrainingStream

    index = read_shard_index(folder)
    skipped = [tuple(item) for item in index["skipped"]]
    report_skipped(folder, skipped, strict)
    features, featurizer = featurisation(
        index["speakers"],
        index["text"],
        index["visual_size"],
        feature_dtype,
        index["visual_columns"],
        feature_extractor,
        text_tokenizer,
    )
    splits = {}
    for name, file in index["heldout"].items():
        path = Path(folder) / file
        rows = [manifest_row(row) for row in shard_rows(path, columns=["audio_path", "visual_path"])]
        files = [path] + ([] if index["embed_audio"] else source_files(rows))
        gen_kwargs = {"path": str(path), **featurizer}
        splits[name] = (
            cached_split(_shard_file_examples, gen_kwargs, features, files, name, cache_dir, num_proc)
            if rows
            else empty_split(features)
        )
    stream = PretrainingStream(
        folder=str(Path(folder).resolve()),
        shards=tuple(entry["file"] for entry in index["shards"]),
        rows=tuple(entry["rows"] for entry in index["shards"]),
        features=datasets.Features({**features, **STREAM_COLUMNS}),
        featurizer=featurizer,
        seed=seed,
        shuffle_buffer_size=shuffle_buffer_size,
    )
    splits = {"train": stream.dataset(), **splits}
    return PreparedCorpus(splits, featurizer["extractor_config"], {"skipped": skipped}, stream=stream)


def _shard_file_examples(path: str, **featurizer):
    """The featurised examples of one Parquet file of rows (a held-out split of a shard folder)."""
    from .pretraining_shards import shard_rows

    yield from _examples(shard_rows(path), **featurizer)


def manifest_row(row: dict) -> dict:
    """A shard row's paths as a manifest row names them."""
    return {"audio": row["audio_path"], "visual": row.get("visual_path")}


__all__ = ["build_pretraining_corpus", "manifest_from_tree", "read_manifest", "write_manifest"]
