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
"""

import csv
import json
import logging
import random
from pathlib import Path

import datasets
import numpy as np

from modeling_mmembed.array_checks_mmembed import check_finite
from modeling_mmembed.configuration_mmembed import MMEmbedConfig
from modeling_mmembed.tokenization_mmembed import normalize_transcript

from .cache_fingerprint import cached_split, feature_extractor_config
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

    def __init__(self, visual_columns: str, max_transcript_tokens: int):
        from modeling_mmembed import MMEmbedTokenizer

        self.visual_columns, self.max_transcript_tokens = visual_columns, max_transcript_tokens
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
        problem = self._fields_problem(row) or _audio_problem(row.get("audio")) or self._visual_problem(row)
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


def assign_splits(
    rows: list[dict], heldout_sentence_fraction: float, heldout_utterance_fraction: float, seed: int
) -> dict[str, list[dict]]:
    """
    Held-out sentences first (every utterance of them; `heldout_sentence_fraction` of the sentences for validation and
    as many others for test), then per speaker `heldout_utterance_fraction` of the remaining utterances for validation
    and as many for test, always leaving each speaker at least one training utterance.
    """
    generator = random.Random(seed)
    sentences = sorted({normalize_transcript(row["transcript"]) for row in rows})
    count = round(len(sentences) * heldout_sentence_fraction)
    drawn = generator.sample(sentences, min(2 * count, len(sentences)))
    sentence_split = {sentence: "validation_sentence" for sentence in drawn[:count]}
    sentence_split.update({sentence: "test_sentence" for sentence in drawn[count:]})
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
    return splits


def _examples(
    rows: list[dict],
    speakers: list[str],
    feature_dtype: str,
    visual_columns: str,
    schema: dict,
    extractor_config: dict,
):
    """
    Examples of `rows` (fbank computed here, once, by a feature extractor built from `extractor_config`, which is
    also part of the cache fingerprint); optional columns are empty where a row lacks them.
    """
    from modeling_mmembed import MMEmbedFeatureExtractor, MMEmbedTokenizer

    extractor, tokenizer = MMEmbedFeatureExtractor(**extractor_config), MMEmbedTokenizer()
    speaker_index = {speaker: index for index, speaker in enumerate(speakers)}
    for row in rows:
        example = {
            "id": row["id"],
            "input_features": extractor.featurize(row["audio"]).astype(feature_dtype),
            "speaker_labels": speaker_index[row["speaker"]],
            "labels": tokenizer(row["transcript"])["input_ids"],
            "transcript": normalize_transcript(row["transcript"]),
        }
        if "visual_size" in schema:
            empty = np.zeros((0, schema["visual_size"]), dtype=np.float32)
            example["visual_features"] = _visual_frames(row["visual"], visual_columns) if row.get("visual") else empty
        if schema["text"]:
            text = row.get("text") or ""
            example["text_input_ids"] = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
        yield example


def source_files(rows: list[dict]) -> list[str]:
    """The audio and visual files of `rows`: the cache key follows their content (`cache_fingerprint`)."""
    return [row[key] for row in rows for key in ("audio", "visual") if row.get(key)]


def _shard_examples(rows: list[list[dict]], **kwargs):
    """Streaming: `rows` holds the shards given to this worker."""
    for shard in rows:
        yield from _examples(shard, **kwargs)


def _visual_frames(path: str, visual_columns: str) -> np.ndarray:
    from modeling_mmembed import read_openface_csv

    frames = np.load(path, allow_pickle=False) if path.endswith(".npy") else read_openface_csv(path, visual_columns)
    return np.asarray(frames, dtype=np.float32)


def _features(speakers: list[str], feature_dtype: str, schema: dict, audio_size: int) -> datasets.Features:
    features = {
        "id": datasets.Value("string"),
        "input_features": datasets.Array2D(shape=(None, audio_size), dtype=feature_dtype),
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
    visual_columns: str = "action_units",
    seed: int = 0,
    strict: bool = False,
    streaming: bool = False,
    num_shards: int = 8,
    max_transcript_tokens: int = MMEmbedConfig.max_target_positions,
    feature_extractor=None,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """
    The pre-training `PreparedCorpus` (splits `train`, `validation_speaker`, `validation_sentence`, `test_speaker`,
    `test_sentence`) with columns `id`,
    `input_features` (fbank, `feature_dtype`), `speaker_labels` (`ClassLabel` of the speaker names),
    `labels` (transcript characters + eos), `transcript` (normalised), and `visual_features` / `text_input_ids`
    when the manifest has them (empty for rows without). `streaming=True` returns an `IterableDatasetDict` over
    `num_shards` shards per split (the same examples, computed on the fly). Audio is featurised by
    `feature_extractor` (default: `MMEmbedFeatureExtractor()`), whose settings the result keeps as
    `feature_extractor_config` (a model trained on it is saved with that extractor). Its `report["skipped"]`
    lists `(row id, reason)` of the bad rows: a row that is not an object, without id or speaker, a
    repeated id (the later row), a transcript that is not a string, empty or longer than `max_transcript_tokens`
    (the decoder's `max_target_positions`), a `text` that is not a string, audio missing, unreadable or shorter than
    one 25 ms frame, a visual file missing, pickled, not 2-D numeric, or of another width than the first usable one.
    """
    if feature_dtype not in ("float16", "float32"):
        raise ValueError(f"feature_dtype must be 'float16' or 'float32', got {feature_dtype!r}.")
    rows, skipped = [], []
    checker = RowChecker(visual_columns, max_transcript_tokens)
    for number, row in enumerate(read_manifest(manifest)):
        problem = checker.problem(number, row)
        if problem is None:
            rows.append(row)
        else:
            row_id = row.get("id") if isinstance(row, dict) else None
            skipped.append((str(row_id or f"row {number}"), problem))
    if skipped:
        message = "; ".join(f"{row_id}: {problem}" for row_id, problem in skipped)
        if strict:
            raise ValueError(f"{manifest}: {len(skipped)} bad rows: {message}")
        logger.warning("%s: skipped %d bad rows: %s", manifest, len(skipped), message)
    if not rows:
        raise ValueError(f"{manifest} has no usable rows.")
    speakers = sorted({row["speaker"] for row in rows})
    schema = {"text": any(row.get("text") for row in rows)}
    if checker.visual_width is not None:
        schema["visual_size"] = checker.visual_width
    extractor_config = feature_extractor_config(feature_extractor)
    features = _features(speakers, feature_dtype, schema, extractor_config["feature_size"])
    generator_kwargs = {
        "speakers": tuple(speakers),  # a tuple: datasets shards over lists only
        "feature_dtype": feature_dtype,
        "visual_columns": visual_columns,
        "schema": schema,
        "extractor_config": extractor_config,
    }
    built = {}
    for name, split_rows in assign_splits(rows, heldout_sentence_fraction, heldout_utterance_fraction, seed).items():
        if streaming:
            shards = [split_rows[index::num_shards] for index in range(num_shards)]
            built[name] = datasets.IterableDataset.from_generator(
                _shard_examples, features=features, gen_kwargs={"rows": shards, **generator_kwargs}
            )
        elif split_rows:
            gen_kwargs = {"rows": split_rows, **generator_kwargs}
            files = source_files(split_rows)
            built[name] = cached_split(_examples, gen_kwargs, features, files, name, cache_dir, num_proc)
        else:
            built[name] = datasets.Dataset.from_dict({key: [] for key in features}, features=features)
    splits = datasets.IterableDatasetDict(built) if streaming else datasets.DatasetDict(built)
    return PreparedCorpus(splits, extractor_config, {"skipped": skipped})


__all__ = ["build_pretraining_corpus", "manifest_from_tree", "read_manifest", "write_manifest"]
