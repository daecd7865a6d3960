"""
Where the emotions of the demo corpora are: one cue plan per utterance, drawn here and rendered by both emotion
corpora (`demo_corpus.make_emotion_corpus` into speech, visual frames and a transcript; `make_mosei_demo` into
CMU-MOSEI-format feature streams).

An utterance has three parts, spoken in a random order: a `sentence` (the ADJ NOUN VERB the ADJ NOUN), a `place`
(ADVERB PLACE) and a `tail` ("and it was [not] WORD and [not] WORD"). Every cue is present in every utterance in
one of two arrangements, so each emotion is a matter of order, timing, context or co-occurrence, never of what an
utterance holds on average: per-utterance pooled features (means and standard deviations of each stream, bags of
words) carry no information about any label.

| emotion  | cue (both arrangements are in every utterance)                         | needs                         |
|----------|------------------------------------------------------------------------|-------------------------------|
| happy    | pitch rises over the three parts (vs falls): relative to the speaker's  | audio: contour vs the speaker |
|          | own first part, whatever the voice's base pitch                        |                               |
| surprise | the speaking rate rises over the three parts (vs slows down)            | audio: timing                 |
| sad      | "not" negates the neutral word, so the sad word stands (vs negates the  | words in context (text, and   |
|          | sad word): both words and one "not" in every tail                       | the speech that says them)    |
| anger    | a loudness burst and a facial action (visual dims 0-4) in the same part | audio-visual co-occurrence    |
|          | (vs in two different parts)                                             |                               |
| fear     | a facial action (dims 5-9) that builds up and stops at once (vs starts | visual: contour               |
|          | at once and fades): the same values in reverse time order              |                               |
| disgust  | a facial action (dims 10-14) while the tail's words are spoken (vs      | words and face at once        |
|          | during another part)                                                    |                               |

Every action or burst lasts `EVENT_SECONDS` at the middle of its part. `data_scripts.modality_probe` checks that
pooled-feature baselines stay at chance on these corpora.
"""

from dataclasses import dataclass

import numpy as np

from modeling_mmembed.configuration_mmembed import EMOTIONS

PARTS = ("sentence", "place", "tail")
PRESENCE = 0.4
"""Probability that an emotion is present (each independently)."""
EVENT_SECONDS = 0.6
VISUAL_CUE_DIMS = {"anger": slice(0, 5), "fear": slice(5, 10), "disgust": slice(10, 15)}
CUE_SHIFT = 2.5
"""How far a facial action (or a feature-stream cue) moves its dims, in units of the frame noise's sd."""
NEUTRAL_WORDS = "calm ordinary normal steady plain usual simple typical regular common".split()
SAD_WORDS = "lonely miserable gloomy heartbroken".split()
NEGATION = "not"


@dataclass(frozen=True)
class CuePlan:
    """Where one utterance's cues are: the labels, the order of its parts, and the part (slot 0-2) of each event."""

    present: dict
    order: tuple[str, ...]
    burst_slot: int
    anger_slot: int
    fear_slot: int
    disgust_slot: int
    tail_words: tuple[str, ...]

    @property
    def pitch_direction(self) -> int:
        """+1: pitch rises over the parts (happy), -1: falls."""
        return 1 if self.present["happy"] else -1

    @property
    def rate_direction(self) -> int:
        """+1: the speaking rate rises over the parts (surprise), -1: slows down."""
        return 1 if self.present["surprise"] else -1

    def visual_events(self) -> dict[int, list[tuple[slice, str]]]:
        """Per slot the facial actions shown during that part: `(dims, shape)`, shape as `event_profile` takes."""
        events = {slot: [] for slot in range(len(PARTS))}
        events[self.anger_slot].append((VISUAL_CUE_DIMS["anger"], "flat"))
        events[self.fear_slot].append((VISUAL_CUE_DIMS["fear"], "builds" if self.present["fear"] else "fades"))
        events[self.disgust_slot].append((VISUAL_CUE_DIMS["disgust"], "flat"))
        return events

    @property
    def tail(self) -> str:
        return "and it was " + " and ".join(self.tail_words)


def other_slot(generator: np.random.Generator, slot: int) -> int:
    """One of the two slots that are not `slot`, at random."""
    return int([index for index in range(len(PARTS)) if index != slot][generator.integers(len(PARTS) - 1)])


def draw_plan(generator: np.random.Generator) -> CuePlan:
    """The cue plan of one utterance (see the module docstring)."""
    present = {emotion: bool(generator.random() < PRESENCE) for emotion in EMOTIONS}
    order = tuple(PARTS[index] for index in generator.permutation(len(PARTS)))
    burst_slot = int(generator.integers(len(PARTS)))
    anger_slot = burst_slot if present["anger"] else other_slot(generator, burst_slot)
    fear_slot = int(generator.integers(len(PARTS)))
    tail_slot = order.index("tail")
    disgust_slot = tail_slot if present["disgust"] else other_slot(generator, tail_slot)
    sad_word = SAD_WORDS[int(generator.integers(len(SAD_WORDS)))]
    neutral_word = NEUTRAL_WORDS[int(generator.integers(len(NEUTRAL_WORDS)))]
    negated = neutral_word if present["sad"] else sad_word  # the sad word stands only when the other is negated
    words = [sad_word, neutral_word] if generator.random() < 0.5 else [neutral_word, sad_word]
    tail_words = tuple(f"{NEGATION} {word}" if word == negated else word for word in words)
    return CuePlan(present, order, burst_slot, anger_slot, fear_slot, disgust_slot, tail_words)


def event_window(bounds: tuple[float, float], rate: float, length: int) -> slice:
    """The frames (at `rate` per second, `length` in all) of an `EVENT_SECONDS` event in the middle of a part."""
    middle = (bounds[0] + bounds[1]) / 2
    start = int(round((middle - EVENT_SECONDS / 2) * rate))
    return slice(max(0, start), min(length, start + max(1, int(round(EVENT_SECONDS * rate)))))


def event_profile(shape: str, frames: int) -> np.ndarray:
    """
    How far each of an event's `frames` moves its dims: `flat` by `CUE_SHIFT` throughout; `builds` rises evenly to
    twice that and stops at once; `fades` is `builds` in reverse. All three have the same mean; the last two the same
    values.
    """
    if shape == "flat":
        return np.full(frames, CUE_SHIFT, dtype=np.float32)
    ramp = np.linspace(0.0, 2 * CUE_SHIFT, frames, dtype=np.float32)
    return ramp if shape == "builds" else ramp[::-1].copy()


def intensities(generator: np.random.Generator, present: dict) -> list[float]:
    """Annotator-style intensities: a multiple of 1/3 in [1/3, 3] where present, 0 where absent."""
    return [float(generator.integers(1, 10)) / 3 if present[emotion] else 0.0 for emotion in EMOTIONS]


def sentiment_of(values: list[float]) -> float:
    happy, sad, anger, surprise, disgust, fear = values
    return float(np.clip(happy + 0.5 * surprise - sad - anger - 0.5 * (fear + disgust), -3.0, 3.0))


EMOTION_CUES = {
    "happy": ("audio",),
    "surprise": ("audio",),
    "sad": ("text", "audio"),
    "anger": ("audio", "visual"),
    "fear": ("visual",),
    "disgust": ("audio", "visual"),
}
"""The modalities a model needs for each emotion (sad: the words, which the text gives and the speech says)."""


__all__ = [
    "CUE_SHIFT",
    "EMOTION_CUES",
    "PARTS",
    "CuePlan",
    "draw_plan",
    "event_profile",
    "event_window",
    "intensities",
]
