"""
The package's torchaudio code paths: the feature extractor's Kaldi back-end and the standard audio-classification
pipeline's resampling. No torchaudio release loads beside the torch 2.13 of `.venv`, so these run in
`.venv-torchaudio` (torch 2.11 + torchaudio 2.11), which `scripts/test.sh` builds (`scripts/setup_torchaudio_env.sh`).
"""

import shutil

import numpy as np
import pytest
import soundfile
import soxr
import torch

from modeling_mmembed import MMEmbedConfig, MMEmbedFeatureExtractor, MMEmbedForEmotionRecognition
from modeling_mmembed.pipeline_mmembed import MMEmbedAudioClassificationPipeline, torchaudio_loads

from ..audio_signals import RATE, SIGNALS, speech_like

pytestmark = pytest.mark.skipif(
    not torchaudio_loads(),
    reason="torchaudio does not load beside this torch; scripts/test.sh runs these tests in .venv-torchaudio",
)

SIXTY_DB_IN_NATS = 6 * np.log(10)
KALDI_TOLERANCE = 1e-3
"""Each back-end is within this of Kaldi's own fbank on bins within 60 dB of the frame's peak (docs/usage.md)."""


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_torchaudio_fbank_matches_the_numpy_backend(signal):
    samples = SIGNALS[signal]()
    by_backend = {
        backend: MMEmbedFeatureExtractor(backend=backend, global_mean=0.0, global_std=1.0).featurize(samples)
        for backend in ("numpy", "torchaudio")
    }
    reference = by_backend["numpy"]
    assert by_backend["torchaudio"].shape == reference.shape
    difference = np.abs(by_backend["torchaudio"] - reference)
    strong = reference >= reference.max(axis=1, keepdims=True) - SIXTY_DB_IN_NATS
    assert difference[strong].max() <= 2 * KALDI_TOLERANCE
    assert MMEmbedFeatureExtractor().resolved_backend == "numpy"  # still the faster one by default


@pytest.fixture(scope="module")
def emotion_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(MMEmbedConfig.from_preset("tiny", text_feature_size=None, text_vocab_size=42))
    directory = tmp_path_factory.mktemp("emotion")
    model.save_pretrained(directory)
    MMEmbedFeatureExtractor().save_pretrained(directory)
    return directory


def test_standard_pipeline_resamples_44_1_khz_audio_with_torchaudio_as_the_package_does_with_soxr(
    emotion_dir, tmp_path
):
    from transformers import AudioClassificationPipeline, pipeline

    classifier = pipeline("audio-classification", model=str(emotion_dir), top_k=None)
    assert type(classifier) is AudioClassificationPipeline  # the package replaces it only where torchaudio fails
    soxr_classifier = MMEmbedAudioClassificationPipeline(
        model=classifier.model, feature_extractor=classifier.feature_extractor, top_k=None
    )
    clip = soxr.resample(speech_like(2.0), RATE, 44_100).astype(np.float32)
    given = {"array": clip, "sampling_rate": 44_100}

    def features(pipe, inputs) -> np.ndarray:
        return pipe.preprocess(inputs)["input_features"][0].numpy()

    by_torchaudio, by_soxr = features(classifier, dict(given)), features(soxr_classifier, dict(given))
    assert by_torchaudio.shape == by_soxr.shape
    assert np.abs(by_torchaudio - by_soxr).mean() < 0.02  # two resamplers: the same features up to filter details
    wrong_rate = features(classifier, clip)  # a bare array is taken as 16 kHz (transformers' convention)
    assert wrong_rate.shape[0] > 2 * by_torchaudio.shape[0]
    if shutil.which("ffmpeg"):  # a path is decoded and resampled by FFmpeg (scripts/setup.sh installs it)
        path = tmp_path / "clip-44k.wav"
        soundfile.write(path, clip, 44_100)
        assert np.abs(features(classifier, str(path)) - by_soxr).mean() < 0.02
    answers = [{item["label"]: item["score"] for item in pipe(dict(given))} for pipe in (classifier, soxr_classifier)]
    assert answers[0].keys() == set(classifier.model.config.label2id)
    np.testing.assert_allclose([answers[0][name] for name in answers[1]], list(answers[1].values()), atol=1e-2)
