"""
The built-in demo corpora the default run uses, generated locally and deterministically from a seed:

1. `make_speech_corpus`: pre-training speech synthesised by espeak-ng (24 voices x 100 utterances at full size) from a
   sentence generator, in the pre-training manifest format, with visual frames that carry no speaker identity (so
   person identification needs the audio).
2. `make_emotion_corpus` / `load_demo_emotion`: a raw emotion corpus (WAV + transcript + per-frame visual `.npy` +
   labels) spoken by 12 other voices (none of them speaks in the speech corpus), split by voice (test voices are
   unseen in training, as CMU-MOSEI's folds keep videos apart), loaded with the columns of
   `load_mosei(audio="wav", text="tokens")`.
3. `make_mosei_demo`: a CMU-MOSEI-format set written as real `.csd` files (COVAREP-like 74-d at 100 Hz, FACET-like
   35-d at 30 Hz, GloVe-like 300-d per word, labels), video ids from the standard folds, read by `load_mosei`.

Both emotion corpora render the same per-utterance cue plans (`demo_cues`): every emotion is carried by order,
timing, words in context or audio-visual co-occurrence, and no pooled per-utterance feature tells any of them apart.
Visual frames come at 25 per second, the rate of the audio encoder's states (100 Hz fbank subsampled 4x) and of
LRS3/VoxCeleb2 video. The speech is synthetic (espeak-ng) and the visual features are generated: the corpora show
that the method learns such cues, not how it does on emotional human speech (CMU-MOSEI is that test).
`shuffled_labels=True` permutes the labels within each split as a control (nothing is then learnable).
"""

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .csd import regular_intervals, write_csd
from .demo_cues import (
    CUE_SHIFT,
    EMOTION_CUES,
    CuePlan,
    draw_plan,
    event_profile,
    event_window,
    intensities,
    sentiment_of,
)
from .demo_speech import (
    DEMO_SAMPLING_RATE,
    EMOTION_VOICES,
    SPEAKER_VOICES,
    in_parallel,
    place_part,
    sentence,
    sentence_part,
    synthesize,
    wav_seconds,
    write_wav,
)
from .label_control import with_shuffled_labels
from .mosei import standard_folds
from .mosei_segments import segment_features
from .prepared_corpus import PreparedCorpus
from .pretraining_corpus import write_manifest

VISUAL_SIZE = 35
VISUAL_RATE = 25
"""Visual frames per second in the raw corpora: the audio encoder's state rate (100 Hz fbank subsampled 4x)."""
FACET_RATE = 30
"""Visual frames per second in the CMU-MOSEI-format demo, as FACET 4.2 in CMU-MOSEI."""
PITCH_STEP, RATE_STEP = 20, 45
"""How far pitch (espeak-ng's 0-99 scale) and speaking rate (words per minute) move from one part to the next."""
BURST_GAIN = 4.0


def noise_frames(generator: np.random.Generator, seconds: float, rate: float = VISUAL_RATE) -> np.ndarray:
    """`(frames, 35)` float32 frames of N(0, 1) noise, `rate` per second."""
    return generator.standard_normal((max(1, int(seconds * rate)), VISUAL_SIZE)).astype(np.float32)


def make_speech_corpus(directory, seed: int = 0, num_speakers: int = 8, utterances_per_speaker: int = 60) -> Path:
    """
    The demo pre-training corpus: `num_speakers` espeak-ng voices (`SPEAKER_VOICES`), each sentence spoken by two
    speakers (so the held-out-sentence splits matter), visual frames of noise that carry no speaker identity.
    Returns the manifest path.
    """
    if not 2 <= num_speakers <= len(SPEAKER_VOICES):
        raise ValueError(f"num_speakers must be between 2 and {len(SPEAKER_VOICES)}, got {num_speakers}.")
    directory = Path(directory)
    generator = np.random.default_rng(seed)
    sentences = [sentence(generator) for _ in range(num_speakers * utterances_per_speaker // 2)]
    utterances = [  # (index, speaker, text): each sentence by two speakers
        (index, speaker, text)
        for index, text in enumerate(sentences)
        for speaker in (index % num_speakers, (index % num_speakers + 1 + index // num_speakers % (num_speakers - 1))
                        % num_speakers)
    ]  # fmt: skip
    spoken = in_parallel(lambda item: synthesize(item[2], *SPEAKER_VOICES[item[1]]), utterances)
    rows = []
    for (index, speaker, text), samples in zip(utterances, spoken, strict=True):
        utterance_id = f"speaker{speaker}/utt{index:04d}"
        audio = write_wav(samples, directory / "audio" / f"{utterance_id}.wav")
        visual = directory / "visual" / f"{utterance_id}.npy"
        visual.parent.mkdir(parents=True, exist_ok=True)
        np.save(visual, noise_frames(generator, len(samples) / DEMO_SAMPLING_RATE))
        rows.append(
            {
                "id": utterance_id,
                "audio": str(audio.relative_to(directory)),
                "speaker": f"speaker{speaker}",
                "transcript": text,
                "visual": str(visual.relative_to(directory)),
            }
        )
    return write_manifest(rows, directory / "manifest.jsonl")


def spoken_parts(plan: CuePlan, texts: dict, voice: str, base_pitch: int) -> tuple[np.ndarray, list[tuple]]:
    """
    The utterance's audio (its parts in the plan's order, each at the pitch and rate its slot gets, 0.15 s apart) with
    the loudness burst applied, and each slot's `(start, end)` in seconds.
    """
    pause = np.zeros(int(0.15 * DEMO_SAMPLING_RATE), dtype=np.float32)
    pieces, bounds, time = [], [], 0.0
    for slot, part in enumerate(plan.order):
        step = slot - 1
        pitch = base_pitch + PITCH_STEP * step * plan.pitch_direction
        spoken = synthesize(texts[part], voice, pitch, speed=165 + RATE_STEP * step * plan.rate_direction)
        pieces += [spoken, pause]
        bounds.append((time, time + len(spoken) / DEMO_SAMPLING_RATE))
        time += (len(spoken) + len(pause)) / DEMO_SAMPLING_RATE
    samples = np.concatenate(pieces)
    burst = event_window(bounds[plan.burst_slot], DEMO_SAMPLING_RATE, len(samples))
    samples[burst] = np.clip(BURST_GAIN * samples[burst], -1.0, 1.0)
    return samples, bounds


def shown_frames(generator: np.random.Generator, plan: CuePlan, bounds: list[tuple], seconds: float, rate: float):
    """Noise frames at `rate` per second with each of the plan's facial actions in the middle of its part."""
    frames = noise_frames(generator, seconds, rate)
    add_facial_actions(frames, plan, bounds, rate)
    return frames


def add_facial_actions(frames: np.ndarray, plan: CuePlan, bounds: list[tuple], rate: float) -> None:
    """Add each of the plan's facial actions to `frames` (`rate` per second) in the middle of its part."""
    for slot, events in plan.visual_events().items():
        window = event_window(bounds[slot], rate, len(frames))
        for columns, shape in events:
            frames[window, columns] += event_profile(shape, window.stop - window.start)[:, None]


def make_emotion_corpus(directory, seed: int = 0, utterances_per_voice: int = 110) -> Path:
    """The raw demo emotion corpus (cues: `demo_cues`), spoken by `EMOTION_VOICES`; returns its `labels.jsonl`."""
    directory = Path(directory)
    generator = np.random.default_rng(seed + 1)
    scripts = []  # (plan, texts, voice, base pitch) of each utterance, drawn in order, then spoken in parallel
    for index in range(utterances_per_voice * len(EMOTION_VOICES)):
        plan = draw_plan(generator)
        texts = {"sentence": sentence_part(generator), "place": place_part(generator), "tail": plan.tail}
        scripts.append((plan, texts, *EMOTION_VOICES[index % len(EMOTION_VOICES)]))
    rows = []
    for index, ((plan, texts, voice, _), (samples, bounds)) in enumerate(
        zip(scripts, in_parallel(lambda script: spoken_parts(*script), scripts), strict=True)
    ):
        utterance_id = f"emo{index:04d}"
        audio = write_wav(samples, directory / "wav" / f"{utterance_id}.wav")
        visual = directory / "visual" / f"{utterance_id}.npy"
        visual.parent.mkdir(parents=True, exist_ok=True)
        np.save(visual, shown_frames(generator, plan, bounds, len(samples) / DEMO_SAMPLING_RATE, VISUAL_RATE))
        values = intensities(generator, plan.present)
        rows.append(
            {
                "id": utterance_id,
                "speaker": voice,
                "audio": str(audio.relative_to(directory)),
                "visual": str(visual.relative_to(directory)),
                "transcript": " ".join(texts[part] for part in plan.order),
                "emotion_intensities": values,
                "sentiment": sentiment_of(values),
                "parts": [
                    {"text": texts[part], "start": start, "end": end}
                    for part, (start, end) in zip(plan.order, bounds, strict=True)
                ],  # fmt: skip
            }
        )
    return write_manifest(rows, directory / "labels.jsonl")


def voice_splits(rows: list[dict], seed: int) -> dict[str, list[int]]:
    """
    Row indices per split, whole voices at a time (train half of the voices, validation and test a quarter each):
    the test voices are never heard in training, as CMU-MOSEI's folds keep videos apart.
    """
    voices = sorted({row["speaker"] for row in rows})
    shuffled = [voices[index] for index in np.random.default_rng(seed).permutation(len(voices))]
    quarter = max(1, len(voices) // 4)
    split_of = {voice: "test" for voice in shuffled[:quarter]}
    split_of.update({voice: "validation" for voice in shuffled[quarter : 2 * quarter]})
    parts = {"train": [], "validation": [], "test": []}
    for index, row in enumerate(rows):
        parts[split_of.get(row["speaker"], "train")].append(index)
    return parts


def load_demo_emotion(
    directory,
    *,
    cache_dir=None,
    shuffled_labels: bool = False,
    seed: int = 0,
    num_proc: int | None = None,
    feature_extractor=None,
    text_tokenizer=None,
) -> PreparedCorpus:
    """
    The raw demo emotion corpus in `directory` (`DemoCorpora.emotion_dir`) as a `PreparedCorpus` split by voice
    (`voice_splits`: train half the voices, validation and test a quarter each, drawn by `seed`; `DemoCorpora.
    load_emotion` passes the generation seed) with the columns of `load_mosei(audio="wav", text="tokens")`: fbank
    `input_features` (by `feature_extractor`, default `MMEmbedFeatureExtractor()`, whose settings it keeps; a speech
    encoder's extractor makes the waveform `input_values` instead), `visual_features`, `text_input_ids` (characters,
    or the tokens of `text_tokenizer`), `words`, labels; `video_id` is the voice. `shuffled_labels=True` permutes
    the labels across the utterances of each split (`with_shuffled_labels`, the control) by `seed`.
    """
    import datasets

    from .cache_fingerprint import cached_split
    from .model_inputs import audio_feature, feature_extractor_config
    from .pretraining_corpus import read_manifest, source_files

    rows = read_manifest(Path(directory) / "labels.jsonl")
    parts = voice_splits(rows, seed)
    extractor_config = feature_extractor_config(feature_extractor)
    features = segment_features(None, VISUAL_SIZE, text_tokens=True, audio=audio_feature(extractor_config, "float32"))
    splits = {}
    for name, indices in parts.items():
        split_rows = [rows[index] for index in indices]
        gen_kwargs = {"rows": split_rows, "extractor_config": extractor_config, "text_tokenizer": text_tokenizer}
        files = source_files(split_rows)
        splits[name] = cached_split(_emotion_examples, gen_kwargs, features, files, name, cache_dir, num_proc)
    corpus = PreparedCorpus(datasets.DatasetDict(splits), extractor_config)
    return with_shuffled_labels(corpus, seed) if shuffled_labels else corpus


def _emotion_examples(rows: list[dict], extractor_config: dict, text_tokenizer=None):
    from modeling_mmembed.tokenization_mmembed import normalize_transcript

    from .model_inputs import InputFeaturizer

    featurize = InputFeaturizer(extractor_config, text_tokenizer)
    for row in rows:
        text = normalize_transcript(row["transcript"])
        values = np.asarray(row["emotion_intensities"], dtype=np.float32)
        yield {
            "id": f"{row['id']}[0]",
            "video_id": row["speaker"],
            "segment_index": 0,
            "start": 0.0,
            "end": wav_seconds(Path(row["audio"])),
            featurize.audio_column: featurize.audio(row["audio"], name=row["audio"]),
            "visual_features": np.load(row["visual"]),
            "text_input_ids": featurize.text_ids(text),
            "words": text.split(),
            "emotion_intensities": values.tolist(),
            "emotion_labels": (values > 0).astype(np.int8).tolist(),
            "sentiment": row["sentiment"],
        }


def glove_like(word: str, size: int = 300) -> np.ndarray:
    """A fixed pseudo word vector: hash-seeded noise (the same word, the same vector)."""
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(size).astype(np.float32)


COVAREP_CUE_DIMS = {"happy": slice(0, 4), "surprise": slice(4, 8), "burst": slice(8, 12)}
"""The CMU-MOSEI-format demo's audio cues: contours of dims 0-3 (happy) and 4-7 (surprise), the burst on 8-11."""


def mosei_segment(generator, plan: CuePlan, start: float, seconds: float, audio, visual, speaker: np.ndarray):
    """
    Render one cue plan into a video's COVAREP-like `audio` (100 Hz) and FACET-like `visual` (30 Hz) streams over
    `[start, start + seconds]`, its three parts a third each; returns the segment's words and their intervals. The
    audio contours move each part's dims by a step from the video's own `speaker` offset (happy, surprise).
    """
    third = seconds / len(plan.order)
    bounds = [(start + slot * third, start + (slot + 1) * third) for slot in range(len(plan.order))]
    for slot, (begin, end) in enumerate(bounds):
        rows = slice(int(round(begin * 100)), int(round(end * 100)))
        audio[rows] += speaker
        audio[rows, COVAREP_CUE_DIMS["happy"]] += CUE_SHIFT * (slot - 1) * plan.pitch_direction
        audio[rows, COVAREP_CUE_DIMS["surprise"]] += CUE_SHIFT * (slot - 1) * plan.rate_direction
    burst = event_window(bounds[plan.burst_slot], 100, len(audio))
    audio[burst, COVAREP_CUE_DIMS["burst"]] += CUE_SHIFT
    add_facial_actions(visual, plan, bounds, FACET_RATE)
    texts = {"sentence": sentence_part(generator), "place": place_part(generator), "tail": plan.tail}
    words, intervals = [], []
    for (begin, end), part in zip(bounds, plan.order, strict=True):
        part_words = texts[part].split()
        step = (end - begin) / len(part_words)
        words += part_words
        intervals += [(begin + index * step, begin + (index + 1) * step) for index in range(len(part_words))]
    return words, intervals


def make_mosei_demo(directory, seed: int = 0, videos: tuple[int, int, int] = (120, 40, 80), segments: int = 4) -> Path:
    """
    A CMU-MOSEI-format demo set: `videos` (train, validation, test) videos from the standard folds (one speaker
    each: a per-video offset of every audio dim), each with `segments` labelled 4 s segments rendering the cue plans
    of `demo_cues`, written as the five `.csd` files `load_mosei` reads. Returns the folder.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(seed + 2)
    folds = standard_folds()
    video_ids = [video_id for split, count in zip(folds, videos, strict=True) for video_id in folds[split][:count]]
    labels, words, covarep, facet, glove = {}, {}, {}, {}, {}
    seconds = 4.0
    for video_id in video_ids:
        length = segments * seconds
        audio = generator.standard_normal((int(length * 100), 74)).astype(np.float32)
        visual = generator.standard_normal((int(length * FACET_RATE), VISUAL_SIZE)).astype(np.float32)
        speaker = generator.standard_normal(74).astype(np.float32)
        word_list, word_intervals, rows, bounds = [], [], [], []
        for segment in range(segments):
            start = segment * seconds
            plan = draw_plan(generator)
            segment_words, intervals = mosei_segment(generator, plan, start, seconds, audio, visual, speaker)
            word_list += segment_words
            word_intervals += intervals
            values = intensities(generator, plan.present)
            rows.append([sentiment_of(values), *values])
            bounds.append((start, start + seconds))
        labels[video_id] = (np.array(rows), np.array(bounds))
        intervals = np.array(word_intervals)
        words[video_id] = (np.array([[word.encode()] for word in word_list], dtype="S20"), intervals)
        glove[video_id] = (np.stack([glove_like(word) for word in word_list]), intervals)
        covarep[video_id] = (audio, regular_intervals(len(audio), 0.01))
        facet[video_id] = (visual, regular_intervals(len(visual), 1 / FACET_RATE))
    write_csd(directory / "CMU_MOSEI_Labels.csd", "All Labels", labels, compression=None)
    write_csd(directory / "CMU_MOSEI_TimestampedWords.csd", "words", words, compression=None)
    write_csd(directory / "CMU_MOSEI_COVAREP.csd", "COVAREP", covarep, compression=None)
    write_csd(directory / "CMU_MOSEI_VisualFacet42.csd", "FACET 4.2", facet, compression=None)
    write_csd(directory / "CMU_MOSEI_TimestampedWordVectors.csd", "glove_vectors", glove, compression=None)
    return directory


CORPUS_SIZES = {
    "full": {
        "speakers": 24,
        "utterances_per_speaker": 100,
        "utterances_per_voice": 110,
        "mosei_videos": (120, 40, 80),
    },
    "small": {"speakers": 8, "utterances_per_speaker": 60, "utterances_per_voice": 24, "mosei_videos": (24, 8, 8)},
}
"""`full`: what the default run trains on: 2,400 pre-training utterances of 24 persons, 3.6 times the 660 emotion
training utterances (as the paper pre-trains on far more speech than it tunes on); emotion test: 3 voices x 110 = 330
utterances; CMU-MOSEI-format test: 80 videos x 4 = 320 segments. `small`: 480 pre-training utterances of 8 persons,
smaller emotion corpora (288 utterances, 128 segments), for the smoke run, the app's on-the-spot model and the
tests."""


def default_demo_root(seed: int = 0, size: str = "full") -> Path:
    """Where the demo corpora are cached: `$MMEMBED_CACHE` or `~/.cache/mmembed`, per version, size and seed."""
    base = Path(os.environ.get("MMEMBED_CACHE", Path.home() / ".cache" / "mmembed"))
    return base / f"demo-v4-{size}-seed{seed}"


def generate_demo_corpora(root=None, seed: int = 0, size: str = "full") -> dict:
    """
    Generate the three demo corpora (`CORPUS_SIZES[size]`, from `seed`) under `root` (once: a `done.json` marks a
    complete generation) and return their paths, generation times and sizes.
    """
    if size not in CORPUS_SIZES:
        raise ValueError(f"size must be one of {sorted(CORPUS_SIZES)}, got {size!r}.")
    sizes = CORPUS_SIZES[size]
    root = Path(root) if root is not None else default_demo_root(seed, size)
    marker = root / "done.json"
    if marker.is_file():
        return json.loads(marker.read_text())
    if root.exists():
        shutil.rmtree(root)
    report = {}
    for name, make in (
        (
            "speech",
            lambda path: make_speech_corpus(
                path, seed, num_speakers=sizes["speakers"], utterances_per_speaker=sizes["utterances_per_speaker"]
            ),
        ),
        ("emotion", lambda path: make_emotion_corpus(path, seed, utterances_per_voice=sizes["utterances_per_voice"])),
        ("mosei", lambda path: make_mosei_demo(path, seed, videos=sizes["mosei_videos"])),
    ):
        start = time.perf_counter()
        path = make(root / name)
        folder = root / name
        report[name] = {
            "path": str(path),
            "seconds": round(time.perf_counter() - start, 2),
            "megabytes": round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6, 1),
            "files": sum(1 for f in folder.rglob("*") if f.is_file()),
        }
    report["seed"], report["size"] = seed, size
    marker.write_text(json.dumps(report, indent=1))
    return report


@dataclass(frozen=True)
class DemoCorpora:
    """
    The three demo corpora generated under `root` from `seed` at `size` (`CORPUS_SIZES`): where each one is, and its
    loader. `DemoCorpora.prepare(root, seed, size)` generates them when `root` holds no complete generation; one
    that does is taken as it is, with the seed and size it was made with (its `done.json`).
    """

    root: Path
    seed: int
    size: str

    @classmethod
    def prepare(cls, root=None, seed: int = 0, size: str = "full") -> "DemoCorpora":
        root = Path(root) if root is not None else default_demo_root(seed, size)
        report = generate_demo_corpora(root, seed=seed, size=size)
        return cls(root, report["seed"], report["size"])

    @property
    def speech_manifest(self) -> Path:
        """The pre-training corpus's manifest (`build_pretraining_corpus` reads it)."""
        return self.root / "speech" / "manifest.jsonl"

    @property
    def emotion_dir(self) -> Path:
        """The raw emotion corpus: `labels.jsonl`, `wav/`, `visual/`."""
        return self.root / "emotion"

    @property
    def mosei_dir(self) -> Path:
        """The CMU-MOSEI-format set: `.csd` files that `load_mosei` reads."""
        return self.root / "mosei"

    def load_emotion(self, **options) -> PreparedCorpus:
        """The raw emotion corpus split by this generation's seed (`load_demo_emotion`, with its `options`)."""
        return load_demo_emotion(self.emotion_dir, seed=self.seed, **options)


__all__ = [
    "EMOTION_CUES",
    "DemoCorpora",
    "generate_demo_corpora",
    "load_demo_emotion",
    "make_emotion_corpus",
    "make_mosei_demo",
    "make_speech_corpus",
]
