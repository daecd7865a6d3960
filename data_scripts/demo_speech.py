"""
The demo corpora's speech: who speaks (espeak-ng voices, pitches), what is said (a sentence grammar), and how it
becomes 16 kHz WAV files.
"""

import io
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

SPEAKER_VOICES = (  # espeak-ng voice, base pitch (0-99): the pre-training corpus (24 persons)
    ("en-us+m1", 40),
    ("en-us+f2", 70),
    ("en+m3", 35),
    ("en+f4", 75),
    ("en-us+m7", 50),
    ("en-gb-scotland+f1", 65),
    ("en-029+m2", 45),
    ("en-gb-x-rp+f3", 60),
    ("en-us+m4", 38),
    ("en+f5", 68),
    ("en-us-nyc+m5", 46),
    ("en-gb-x-gbclan+f2", 72),
    ("en-gb-x-gbcwmd+m6", 42),
    ("en-029+f4", 66),
    ("en-gb-scotland+m8", 48),
    ("en-gb-x-rp+m2", 36),
    ("en-us+Gene", 44),
    ("en+Lee", 52),
    ("en-us+Mike", 40),
    ("en+aunty", 70),
    ("en-us+caleb", 46),
    ("en-gb-x-rp+norbert", 38),
    ("en-us-nyc+paul", 50),
    ("en-029+iven", 54),
)
"""British English is espeak-ng's `en` (`en-gb` ignores a `+variant`: every `en-gb+...` voice is plain `en-gb`)."""
EMOTION_VOICES = (  # the emotion corpus: 12 voices none of which speaks in the pre-training corpus
    ("en-us+adam", 45),
    ("en+Alicia", 66),
    ("en-029+Andy", 44),
    ("en-gb-scotland+Annie", 70),
    ("en-gb-x-rp+david", 40),
    ("en-us-nyc+linda", 68),
    ("en-gb-x-gbclan+max", 50),
    ("en+belinda", 72),
    ("en-us+john", 42),
    ("en-gb-x-gbcwmd+edward", 48),
    ("en-029+Andrea", 64),
    ("en-us+Michael", 52),
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


def sentence(generator: np.random.Generator) -> str:
    """A sentence from the template `the ADJ NOUN VERB the ADJ NOUN ADVERB PLACE`."""
    return f"{sentence_part(generator)} {place_part(generator)}"


def pick(generator: np.random.Generator, words):
    return words[int(generator.integers(len(words)))]


def sentence_part(generator: np.random.Generator) -> str:
    """`the ADJ NOUN VERB the ADJ NOUN`."""
    return (
        f"the {pick(generator, ADJECTIVES)} {pick(generator, NOUNS)} {pick(generator, VERBS)} the "
        f"{pick(generator, ADJECTIVES)} {pick(generator, NOUNS)}"
    )


def place_part(generator: np.random.Generator) -> str:
    """`ADVERB PLACE`."""
    return f"{pick(generator, ADVERBS)} {pick(generator, PLACES)}"


DEMO_SAMPLING_RATE = 16000
"""The rate of every demo WAV (espeak-ng speaks at 22.05 kHz): what the model's feature extractor expects, so the
standard audio-classification pipeline, which takes a bare array as 16 kHz, scores them right."""


def synthesize(text: str, voice: str, pitch: int, speed: int = 165) -> np.ndarray:
    """`text` spoken by espeak-ng's `voice` at `pitch` (0-99) and `speed` (words per minute), as 16 kHz samples."""
    import soundfile

    from modeling_mmembed.audio_mmembed import resample

    if shutil.which("espeak-ng") is None:
        raise RuntimeError(
            "espeak-ng is needed to synthesise the demo speech: install it with `apt-get install espeak-ng` "
            "(scripts/setup.sh does this where it can) or your system's package manager."
        )
    command = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text]
    spoken = subprocess.run(command, check=True, capture_output=True).stdout
    samples, rate = soundfile.read(io.BytesIO(spoken), dtype="float32")
    return np.clip(resample(samples, rate, DEMO_SAMPLING_RATE), -1.0, 1.0)


def wav_seconds(path: Path) -> float:
    import soundfile

    info = soundfile.info(str(path))
    return info.frames / info.samplerate


def write_wav(samples: np.ndarray, path: Path) -> Path:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, samples, DEMO_SAMPLING_RATE, subtype="PCM_16")
    return path


def in_parallel(function, items: list) -> list:
    """`[function(item) for item in items]` on a thread per CPU core (espeak-ng runs as a subprocess per call)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(function, items))
