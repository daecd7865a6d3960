"""
The built-in demo corpora the default run uses, generated locally and deterministically (seeded):

1. `make_speech_corpus`: speech synthesised by espeak-ng (8 voices x 60 utterances by default) from a sentence
   generator, in the pre-training manifest format, with per-speaker visual frames that carry the speaker's identity
   only weakly (noisy), so person identification must use the audio too.
2. `make_emotion_corpus` / `load_demo_emotion`: a small raw emotion corpus (WAV + transcript + per-frame visual
   `.npy` + labels) in the scarce-label regime, loaded with the same columns as
   `load_mosei(audio="wav", text="tokens")`.
3. `make_mosei_demo`: a CMU-MOSEI-format set written as real `.csd` files (COVAREP-like 74-d at 100 Hz, FACET-like
   35-d at 30 Hz, GloVe-like 300-d per word, labels), video ids from the standard folds, read by `load_mosei`.

Which modality carries which emotion (`EMOTION_CUES`), in both emotion corpora:

| emotion  | carried by                       | cue                                                             |
|----------|----------------------------------|-----------------------------------------------------------------|
| happy    | audio only                       | raised pitch (raw: pitch +40; MOSEI-format: COVAREP dims 0-3)   |
| surprise | audio only                       | louder voice (raw: x3 gain; MOSEI-format: COVAREP dims 4-7 up)  |
| sad      | text only                        | a sad word in the transcript ("it felt lonely ...")            |
| anger    | visual only                      | visual dims 0-4 raised                                          |
| fear     | visual only                      | visual dims 5-9 raised                                          |
| disgust  | text and visual together (XOR)   | a disgust word XOR visual dims 10-14 raised: neither alone tells |

So a model using all modalities must beat any subset. `shuffled_labels=True` permutes the labels across examples as
a control (nothing is then learnable).
"""

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from modeling_mmembed.configuration_mmembed import EMOTIONS

from .csd import regular_intervals, write_csd
from .mosei import segment_features, standard_folds
from .pretraining_corpus import write_manifest

EMOTION_CUES = {
    "happy": ("audio",),
    "surprise": ("audio",),
    "sad": ("text",),
    "anger": ("visual",),
    "fear": ("visual",),
    "disgust": ("text", "visual"),
}
VISUAL_CUE_DIMS = {"anger": slice(0, 5), "fear": slice(5, 10), "disgust": slice(10, 15)}
COVAREP_CUE_DIMS = {"happy": slice(0, 4), "surprise": slice(4, 8)}
VISUAL_SIZE, VISUAL_RATE = 35, 30
CUE_SHIFT = 1.5

SPEAKER_VOICES = (  # espeak-ng voice, base pitch (0-99)
    ("en-us+m1", 40),
    ("en-us+f2", 70),
    ("en-gb+m3", 35),
    ("en-gb+f4", 75),
    ("en-us+m7", 50),
    ("en-gb-scotland+f1", 65),
    ("en-029+m2", 45),
    ("en-gb-x-rp+f3", 60),
)

ADJECTIVES = (
    "quiet old bright small heavy warm cold green blue narrow wide tall short young ancient modern wooden golden "
    "silver gentle loud busy empty crowded distant nearby simple careful clever famous friendly honest humble "
    "rapid steady sudden tiny enormous broken shiny dusty muddy sunny windy rainy frozen fresh ripe sweet bitter "
    "round square smooth rough soft hard light dark early late"
).split()
NOUNS = (
    "teacher farmer doctor pilot painter sailor driver baker singer writer student captain neighbour gardener "
    "engineer musician dancer lawyer nurse hunter bridge river garden window kitchen market village forest "
    "mountain harbour station library museum castle tower valley island desert meadow orchard theatre factory "
    "bicycle lantern basket ladder blanket kettle candle mirror compass violin camera letter parcel ticket "
    "umbrella wagon engine anchor barrel bottle button carpet curtain hammer helmet jacket needle pencil pillow "
    "rocket saddle shovel spoon stamp table wallet whistle horse rabbit falcon salmon turtle beetle pony goat"
).split()
VERBS = (
    "painted carried opened repaired visited watched cleaned followed found lifted moved noticed ordered pushed "
    "pulled quoted reached rescued shared signed sold tested touched traded turned washed wrapped counted "
    "delivered described designed examined explored gathered guarded measured mentioned packed polished "
    "protected recorded replaced returned studied borrowed built bought caught chose"
).split()
ADVERBS = (
    "slowly quickly carefully quietly gladly boldly calmly eagerly firmly gently happily kindly neatly openly "
    "proudly rarely safely simply softly warmly wisely briefly daily nearly often"
).split()
PLACES = (
    "near the station",
    "by the river",
    "in the morning",
    "after lunch",
    "before dawn",
    "at the market",
    "on the hill",
    "under the bridge",
    "behind the school",
    "during the storm",
    "across the square",
    "inside the hall",
    "along the coast",
    "beside the lake",
    "at midnight",
    "in the spring",
)
NEUTRAL_WORDS = "calm ordinary normal steady plain usual simple typical regular common".split()
SAD_WORDS = "lonely miserable gloomy heartbroken".split()
DISGUST_WORDS = "disgusting gross".split()


def sentence(generator: np.random.Generator) -> str:
    """A sentence from the template `the ADJ NOUN VERB the ADJ NOUN ADVERB PLACE`."""

    def pick(words):
        return words[int(generator.integers(len(words)))]

    return (
        f"the {pick(ADJECTIVES)} {pick(NOUNS)} {pick(VERBS)} the {pick(ADJECTIVES)} {pick(NOUNS)} "
        f"{pick(ADVERBS)} {pick(PLACES)}"
    )


DEMO_SAMPLING_RATE = 16000
"""The rate of every demo WAV (espeak-ng speaks at 22.05 kHz): what the model's feature extractor expects, so the
standard audio-classification pipeline, which takes a bare array as 16 kHz, scores them right."""


def speak(text: str, voice: str, pitch: int, path: Path, speed: int = 165) -> Path:
    """Synthesise `text` with espeak-ng into a 16 kHz WAV file (espeak-ng's 22.05 kHz resampled with soxr)."""
    import soundfile

    from modeling_mmembed.feature_extraction_mmembed import resample

    if shutil.which("espeak-ng") is None:
        raise RuntimeError(
            "espeak-ng is needed to synthesise the demo speech: install it with `apt-get install espeak-ng` "
            "(scripts/setup.sh does this where it can) or your system's package manager."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    command = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), text]
    subprocess.run(command, check=True, capture_output=True)
    samples, rate = soundfile.read(path, dtype="float32")
    resampled = np.clip(resample(samples, rate, DEMO_SAMPLING_RATE), -1.0, 1.0)
    soundfile.write(path, resampled, DEMO_SAMPLING_RATE, subtype="PCM_16")
    return path


def visual_frames(
    generator: np.random.Generator, seconds: float, identity: np.ndarray | None = None, cues=()
) -> np.ndarray:
    """`(frames, 35)` float32 at 30 Hz: noise, plus a weak identity offset, plus `CUE_SHIFT` on each cue's dims."""
    frames = generator.standard_normal((max(1, int(seconds * VISUAL_RATE)), VISUAL_SIZE)).astype(np.float32)
    if identity is not None:
        frames += identity
    for emotion in cues:
        frames[:, VISUAL_CUE_DIMS[emotion]] += CUE_SHIFT
    return frames


def wav_seconds(path: Path) -> float:
    import soundfile

    info = soundfile.info(str(path))
    return info.frames / info.samplerate


def make_speech_corpus(
    directory, seed: int = 0, num_speakers: int = 8, utterances_per_speaker: int = 60, identity_strength: float = 0.3
) -> Path:
    """
    The demo pre-training corpus: `num_speakers` espeak-ng voices, each sentence spoken by two speakers (so the
    held-out-sentence split matters), visual frames with a weak (`identity_strength` x N(0, 1)) speaker offset.
    Returns the manifest path.
    """
    if not 2 <= num_speakers <= len(SPEAKER_VOICES):
        raise ValueError(f"num_speakers must be between 2 and {len(SPEAKER_VOICES)}, got {num_speakers}.")
    directory = Path(directory)
    generator = np.random.default_rng(seed)
    identities = [
        identity_strength * generator.standard_normal(VISUAL_SIZE).astype(np.float32) for _ in SPEAKER_VOICES
    ]
    sentences = [sentence(generator) for _ in range(num_speakers * utterances_per_speaker // 2)]
    rows = []
    for index, text in enumerate(sentences):
        first = index % num_speakers
        for speaker in (first, (first + 1 + index // num_speakers % (num_speakers - 1)) % num_speakers):
            voice, pitch = SPEAKER_VOICES[speaker]
            utterance_id = f"speaker{speaker}/utt{index:04d}"
            audio = speak(text, voice, pitch, directory / "audio" / f"{utterance_id}.wav")
            visual = directory / "visual" / f"{utterance_id}.npy"
            visual.parent.mkdir(parents=True, exist_ok=True)
            np.save(visual, visual_frames(generator, wav_seconds(audio), identities[speaker]))
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


def emotion_cues(generator: np.random.Generator) -> tuple[dict[str, bool], dict[str, bool]]:
    """Per emotion whether it is present, and per (emotion, modality) cue whether it is shown."""
    present = {emotion: bool(generator.random() < 0.35) for emotion in ("happy", "surprise", "sad", "anger", "fear")}
    shown = {"disgust_text": bool(generator.random() < 0.5), "disgust_visual": bool(generator.random() < 0.5)}
    present["disgust"] = shown["disgust_text"] != shown["disgust_visual"]
    return present, shown


def cue_words(generator: np.random.Generator, present: dict, shown: dict) -> list[str]:
    """The two tail words of an emotion transcript: a sad word or a neutral one, a disgust word or a neutral one."""
    first = SAD_WORDS if present["sad"] else NEUTRAL_WORDS
    second = DISGUST_WORDS if shown["disgust_text"] else NEUTRAL_WORDS
    return [first[int(generator.integers(len(first)))], second[int(generator.integers(len(second)))]]


def intensities(generator: np.random.Generator, present: dict) -> list[float]:
    """Annotator-style intensities: a multiple of 1/3 in [1/3, 3] where present, 0 where absent."""
    return [float(generator.integers(1, 10)) / 3 if present[emotion] else 0.0 for emotion in EMOTIONS]


def sentiment_of(values: list[float]) -> float:
    happy, sad, anger, surprise, disgust, fear = values
    return float(np.clip(happy + 0.5 * surprise - sad - anger - 0.5 * (fear + disgust), -3.0, 3.0))


def make_emotion_corpus(directory, seed: int = 0, num_utterances: int = 300) -> Path:
    """The raw demo emotion corpus (see the module docstring for its cues); returns its `labels.jsonl`."""
    import soundfile

    directory = Path(directory)
    generator = np.random.default_rng(seed + 1)
    rows = []
    for index in range(num_utterances):
        present, shown = emotion_cues(generator)
        voice, pitch = SPEAKER_VOICES[index % 4]
        words = cue_words(generator, present, shown)
        transcript = f"{sentence(generator)} and it felt {words[0]} and {words[1]}"
        utterance_id = f"emo{index:04d}"
        audio = directory / "wav" / f"{utterance_id}.wav"
        speak(transcript, voice, pitch + (40 if present["happy"] else 0), audio)
        if present["surprise"]:
            samples, rate = soundfile.read(audio, dtype="float32")
            soundfile.write(audio, np.clip(3.0 * samples, -1.0, 1.0), rate, subtype="PCM_16")
        cues = [emotion for emotion in ("anger", "fear") if present[emotion]] + (
            ["disgust"] if shown["disgust_visual"] else []
        )
        visual = directory / "visual" / f"{utterance_id}.npy"
        visual.parent.mkdir(parents=True, exist_ok=True)
        np.save(visual, visual_frames(generator, wav_seconds(audio), cues=cues))
        values = intensities(generator, present)
        rows.append(
            {
                "id": utterance_id,
                "audio": str(audio.relative_to(directory)),
                "visual": str(visual.relative_to(directory)),
                "transcript": transcript,
                "emotion_intensities": values,
                "sentiment": sentiment_of(values),
                "cues": shown,
            }
        )
    return write_manifest(rows, directory / "labels.jsonl")


def load_demo_emotion(
    directory,
    *,
    cache_dir=None,
    shuffled_labels: bool = False,
    seed: int = 0,
    num_proc: int | None = None,
    feature_extractor=None,
):
    """
    The raw demo emotion corpus as a `DatasetDict` (train 70% / validation 15% / test 15%) with the columns of
    `load_mosei(audio="wav", text="tokens")`: fbank `input_features` (by `feature_extractor`, default
    `MMEmbedFeatureExtractor()`; its settings kept as `feature_extractor_config`), `visual_features`,
    `text_input_ids`, `words`, labels. `shuffled_labels=True` permutes the labels across utterances (the control).
    """
    import datasets

    from .cache_fingerprint import cached_split, feature_extractor_config
    from .pretraining_corpus import read_manifest, source_files

    rows = read_manifest(Path(directory) / "labels.jsonl")
    if shuffled_labels:
        order = np.random.default_rng(seed).permutation(len(rows))
        labels = [(rows[index]["emotion_intensities"], rows[index]["sentiment"]) for index in order]
        rows = [
            dict(row, emotion_intensities=values, sentiment=sentiment)
            for row, (values, sentiment) in zip(rows, labels, strict=True)
        ]
    generator = np.random.default_rng(seed)
    order = generator.permutation(len(rows))
    cut_train, cut_validation = int(0.7 * len(rows)), int(0.85 * len(rows))
    parts = {
        "train": order[:cut_train],
        "validation": order[cut_train:cut_validation],
        "test": order[cut_validation:],
    }
    extractor_config = feature_extractor_config(feature_extractor)
    features = segment_features(extractor_config["feature_size"], VISUAL_SIZE, text_tokens=True)
    splits = {}
    for name, indices in parts.items():
        split_rows = [rows[index] for index in sorted(indices)]
        gen_kwargs = {"rows": split_rows, "extractor_config": extractor_config}
        files = source_files(split_rows)
        splits[name] = cached_split(_emotion_examples, gen_kwargs, features, files, name, cache_dir, num_proc)
    corpus = datasets.DatasetDict(splits)
    corpus.feature_extractor_config = extractor_config
    return corpus


def _emotion_examples(rows: list[dict], extractor_config: dict):
    from modeling_mmembed import MMEmbedFeatureExtractor, MMEmbedTokenizer
    from modeling_mmembed.tokenization_mmembed import normalize_transcript

    extractor, tokenizer = MMEmbedFeatureExtractor(**extractor_config), MMEmbedTokenizer()
    for row in rows:
        frames = extractor.featurize(row["audio"])
        text = normalize_transcript(row["transcript"])
        values = np.asarray(row["emotion_intensities"], dtype=np.float32)
        yield {
            "id": f"{row['id']}[0]",
            "video_id": row["id"],
            "segment_index": 0,
            "start": 0.0,
            "end": wav_seconds(Path(row["audio"])),
            "input_features": frames,
            "visual_features": np.load(row["visual"]),
            "text_input_ids": tokenizer(text, add_special_tokens=False)["input_ids"],
            "words": text.split(),
            "emotion_intensities": values.tolist(),
            "emotion_labels": (values > 0).astype(np.int8).tolist(),
            "sentiment": row["sentiment"],
        }


def glove_like(word: str, size: int = 300) -> np.ndarray:
    """A fixed pseudo word vector: hash-seeded noise, plus a shared direction for sad and for disgust words."""
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(size).astype(np.float32)
    for words, direction_seed in ((SAD_WORDS, 1), (DISGUST_WORDS, 2)):
        if word in words:
            vector += 2.5 * np.random.default_rng(direction_seed).standard_normal(size).astype(np.float32)
    return vector


def make_mosei_demo(directory, seed: int = 0, videos: tuple[int, int, int] = (60, 15, 15), segments: int = 4) -> Path:
    """
    A CMU-MOSEI-format demo set: `videos` (train, validation, test) videos from the standard folds, each with
    `segments` labelled 4 s segments, written as the six `.csd` files `load_mosei` reads. Returns the folder.
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
        visual = generator.standard_normal((int(length * VISUAL_RATE), VISUAL_SIZE)).astype(np.float32)
        word_list, word_intervals, rows, bounds = [], [], [], []
        for segment in range(segments):
            start = segment * seconds
            present, shown = emotion_cues(generator)
            for emotion, dims in COVAREP_CUE_DIMS.items():
                if present[emotion]:
                    audio[int(start * 100) : int((start + seconds) * 100), dims] += CUE_SHIFT
            for emotion in ("anger", "fear", "disgust"):
                if present[emotion] if emotion != "disgust" else shown["disgust_visual"]:
                    visual[
                        int(start * VISUAL_RATE) : int((start + seconds) * VISUAL_RATE), VISUAL_CUE_DIMS[emotion]
                    ] += CUE_SHIFT
            segment_words = sentence(generator).split()[:7] + cue_words(generator, present, shown) + ["sp"]
            step = seconds / len(segment_words)
            for position, word in enumerate(segment_words):
                word_list.append(word)
                word_intervals.append((start + position * step, start + (position + 1) * step))
            values = intensities(generator, present)
            rows.append([sentiment_of(values), *values])
            bounds.append((start, start + seconds))
        labels[video_id] = (np.array(rows), np.array(bounds))
        intervals = np.array(word_intervals)
        words[video_id] = (np.array([[word.encode()] for word in word_list], dtype="S20"), intervals)
        glove[video_id] = (np.stack([glove_like(word) for word in word_list]), intervals)
        covarep[video_id] = (audio, regular_intervals(len(audio), 0.01))
        facet[video_id] = (visual, regular_intervals(len(visual), 1 / VISUAL_RATE))
    write_csd(directory / "CMU_MOSEI_Labels.csd", "All Labels", labels, compression=None)
    write_csd(directory / "CMU_MOSEI_TimestampedWords.csd", "words", words, compression=None)
    write_csd(directory / "CMU_MOSEI_COVAREP.csd", "COVAREP", covarep, compression=None)
    write_csd(directory / "CMU_MOSEI_VisualFacet42.csd", "FACET 4.2", facet, compression=None)
    write_csd(directory / "CMU_MOSEI_TimestampedWordVectors.csd", "glove_vectors", glove, compression=None)
    return directory


def default_demo_root(seed: int = 0) -> Path:
    """Where the demo corpora are cached: `$MMEMBED_CACHE` or `~/.cache/mmembed`, per version and seed."""
    import os

    return Path(os.environ.get("MMEMBED_CACHE", Path.home() / ".cache" / "mmembed")) / f"demo-v2-seed{seed}"


def generate_demo_corpora(root=None, seed: int = 0) -> dict:
    """
    Generate the three demo corpora under `root` (once: a `done.json` marks a complete generation) and return their
    paths, generation times and sizes.
    """
    root = Path(root) if root is not None else default_demo_root(seed)
    marker = root / "done.json"
    if marker.is_file():
        return json.loads(marker.read_text())
    if root.exists():
        shutil.rmtree(root)
    report = {}
    for name, make in (
        ("speech", lambda path: make_speech_corpus(path, seed)),
        ("emotion", lambda path: make_emotion_corpus(path, seed)),
        ("mosei", lambda path: make_mosei_demo(path, seed)),
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
    marker.write_text(json.dumps(report, indent=1))
    return report


__all__ = [
    "EMOTION_CUES",
    "generate_demo_corpora",
    "load_demo_emotion",
    "make_emotion_corpus",
    "make_mosei_demo",
    "make_speech_corpus",
]
