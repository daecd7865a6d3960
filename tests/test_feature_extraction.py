"""MMEmbedFeatureExtractor: Kaldi agreement, resampling, audio files, normalisation, SpecAugment and bad input."""

import kaldi_native_fbank
import numpy as np
import pytest
import soundfile

from modeling_mmembed import MMEmbedFeatureExtractor, audio_mmembed
from modeling_mmembed.audio_mmembed import load_audio_file
from modeling_mmembed.feature_extraction_mmembed import available_backends

from .audio_signals import RATE, SIGNALS, speech_like, tone

SIXTY_DB_IN_NATS = 6 * np.log(10)  # 60 dB of power, in the natural-log units of log-mel features


def kaldi_reference(samples: np.ndarray) -> np.ndarray:
    """Kaldi's own fbank (kaldi-native-fbank) with the extractor's settings: 80 bins, 16 kHz, no dither."""
    options = kaldi_native_fbank.FbankOptions()
    options.frame_opts.dither = 0.0
    options.frame_opts.samp_freq = RATE
    options.mel_opts.num_bins = 80
    fbank = kaldi_native_fbank.OnlineFbank(options)
    fbank.accept_waveform(RATE, (samples * 32768.0).tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(index) for index in range(fbank.num_frames_ready)])


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_matches_kaldi(backend, signal):
    samples = SIGNALS[signal]()
    ours = MMEmbedFeatureExtractor(backend=backend, global_mean=0.0, global_std=1.0).featurize(samples)
    reference = kaldi_reference(samples)
    assert ours.shape == reference.shape == (1 + (len(samples) - 400) // 160, 80)
    difference = np.abs(ours - reference)
    strong = reference >= reference.max(axis=1, keepdims=True) - SIXTY_DB_IN_NATS
    assert difference[strong].max() <= 1e-3
    assert difference.mean() <= 1e-4


def test_auto_backend_is_the_first_available_in_speed_order():
    assert MMEmbedFeatureExtractor().resolved_backend == available_backends()[0]
    assert "numpy" in available_backends()


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="Unknown fbank backend 'librosa'"):
        MMEmbedFeatureExtractor(backend="librosa")


def test_batch_output_shapes_and_mask():
    extractor = MMEmbedFeatureExtractor()
    long, short = speech_like(1.0), speech_like(0.5, seed=5)
    batch = extractor([long, short], sampling_rate=RATE, return_tensors="pt")
    assert batch["input_features"].shape == (2, 98, 80)
    assert batch["attention_mask"].sum(-1).tolist() == [98, 48]
    assert (batch["input_features"][1, 48:] == 0).all()
    np.testing.assert_allclose(batch["input_features"][1, :48].numpy(), extractor.featurize(short), atol=0)
    single = extractor(long, sampling_rate=RATE, return_tensors="np")
    assert single["input_features"].shape == (1, 98, 80)


def test_resampling_keeps_a_tone_at_its_frequency():
    extractor = MMEmbedFeatureExtractor()
    at_22k = tone(1000.0, 1.0, rate=22050)
    resampled = audio_mmembed.resample(at_22k, 22050, RATE)
    assert abs(len(resampled) - RATE) <= 1
    spectrum = np.abs(np.fft.rfft(resampled * np.hanning(len(resampled))))
    peak_hz = np.argmax(spectrum) * RATE / len(resampled)
    assert abs(peak_hz - 1000.0) < 2.0
    from_22k = extractor(at_22k, sampling_rate=22050)["input_features"][0]
    from_16k = extractor(tone(1000.0, 1.0), sampling_rate=RATE)["input_features"][0]
    assert np.argmax(from_22k[10:-10].mean(0)) == np.argmax(from_16k[10:-10].mean(0))


def test_scipy_resampling_is_used_without_soxr(monkeypatch):
    monkeypatch.setattr(audio_mmembed, "soxr", None)
    resampled = audio_mmembed.resample(tone(1000.0, 1.0, rate=22050), 22050, RATE)
    spectrum = np.abs(np.fft.rfft(resampled * np.hanning(len(resampled))))
    assert abs(np.argmax(spectrum) * RATE / len(resampled) - 1000.0) < 2.0


def test_stereo_is_mixed_and_integer_pcm_is_scaled():
    extractor = MMEmbedFeatureExtractor()
    mono = speech_like(0.5)
    reference = extractor.featurize(mono)
    stereo = np.stack([mono, mono], axis=1)
    np.testing.assert_allclose(extractor.featurize(stereo), reference, atol=1e-5)
    pcm16 = np.round(mono * 32767).astype(np.int16)
    np.testing.assert_allclose(extractor.featurize(pcm16), reference, atol=0.05)  # 16-bit quantisation noise
    np.testing.assert_allclose(
        extractor.featurize(pcm16.astype(np.int32) << 16), extractor.featurize(pcm16), atol=1e-4
    )
    import torch

    np.testing.assert_allclose(extractor.featurize(torch.from_numpy(mono)), reference, atol=0)


def test_default_features_are_globally_normalised_and_keep_loudness():
    samples = speech_like(1.0)
    raw = MMEmbedFeatureExtractor(global_mean=0.0, global_std=1.0).featurize(samples)
    default = MMEmbedFeatureExtractor()
    np.testing.assert_allclose(default.featurize(samples), (raw - 14.0) / 9.0, atol=1e-5)
    louder = default.featurize(3.0 * samples) - default.featurize(samples)
    np.testing.assert_allclose(louder, np.log(9.0) / 9.0, atol=1e-3)  # x3 gain: +log(9) nats, scaled
    per_utterance = MMEmbedFeatureExtractor(do_normalize=True)
    np.testing.assert_allclose(per_utterance.featurize(3.0 * samples), per_utterance.featurize(samples), atol=1e-3)
    with pytest.raises(ValueError, match="global_std must be positive"):
        MMEmbedFeatureExtractor(global_std=0.0)


@pytest.mark.parametrize("extension", [".wav", ".flac", ".ogg"])
def test_audio_files_are_read_with_soundfile(tmp_path, extension):
    samples = speech_like(0.5)
    path = tmp_path / f"utterance{extension}"
    soundfile.write(path, samples, RATE)
    loaded, rate = load_audio_file(path)
    assert rate == RATE and abs(len(loaded) - len(samples)) <= 1
    extractor = MMEmbedFeatureExtractor()
    features = extractor([str(path)])["input_features"][0]
    assert features.shape == (48, 80)
    if extension != ".ogg":  # lossless files: 16-bit quantisation only
        np.testing.assert_allclose(features, extractor.featurize(samples), atol=0.05)


def test_an_audio_file_is_read_at_its_own_rate(tmp_path):
    path = tmp_path / "tone.wav"
    soundfile.write(path, tone(1000.0, 1.0, rate=22050), 22050)
    extractor = MMEmbedFeatureExtractor()
    from_file = extractor([str(path)])["input_features"][0]
    from_16k = extractor(tone(1000.0, 1.0))["input_features"][0]
    assert from_file.shape == from_16k.shape == (98, 80)
    assert np.argmax(from_file[10:-10].mean(0)) == np.argmax(from_16k[10:-10].mean(0))


def test_a_cut_off_wav_file_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "cut.wav"
    soundfile.write(path, speech_like(1.0), RATE, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:20000])  # the header still promises 32,000 bytes of samples
    with pytest.raises(ValueError, match=r"cut\.wav is cut off: its WAV header declares 32000 bytes .* holds 19956"):
        load_audio_file(path)


def test_a_file_that_decodes_to_less_than_its_header_declares_is_refused(tmp_path):
    """A cut MP3 (libsndfile's frame count comes from its Xing header) and a damaged FLAC."""
    mp3, flac = tmp_path / "cut.mp3", tmp_path / "cut.flac"
    soundfile.write(mp3, speech_like(3.0), RATE, format="MP3")
    mp3.write_bytes(mp3.read_bytes()[: mp3.stat().st_size // 3])
    with pytest.raises(ValueError, match=r"cut\.mp3 is cut off or damaged: its header declares 48000 frames but it"):
        load_audio_file(mp3)
    soundfile.write(flac, speech_like(3.0), RATE, format="FLAC")
    flac.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"Cannot decode audio file .*cut\.flac: it is damaged or cut off"):
        load_audio_file(flac)


def test_an_rf64_file_claiming_more_data_than_it_holds_is_refused(tmp_path):
    import struct

    path = tmp_path / "long.rf64"
    soundfile.write(path, speech_like(0.1), RATE, format="RF64", subtype="PCM_16")
    data = bytearray(path.read_bytes())
    ds64 = data.index(b"ds64")
    struct.pack_into("<QQQ", data, ds64 + 8, 2**41, 2**41, 2**40)  # RIFF size, data size, frames
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"long\.rf64 is cut off: its WAV header declares 2199023255552 bytes"):
        load_audio_file(path)


def test_untrusted_audio_is_bounded_from_its_header_before_decoding(tmp_path):
    import tracemalloc

    path = tmp_path / "bomb.flac"
    soundfile.write(path, np.zeros((96000 * 300, 8), dtype=np.int16), 96000)  # 240 KB, 880 MB decoded
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"bomb\.flac lasts 300\.0 s \(says its header\); at most 60 s"):
        load_audio_file(path, max_seconds=60)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000, peak
    with pytest.raises(ValueError, match="has 8 audio channels; at most 2 are accepted"):
        load_audio_file(path, max_seconds=600, max_channels=2)
    samples, rate = load_audio_file(tmp_path / "bomb.flac", max_seconds=301)  # within the limits: mixed to mono
    assert samples.shape == (96000 * 300,) and rate == 96000


def test_array_audio_without_a_sampling_rate_is_taken_at_16_khz_with_a_warning(caplog):
    extractor = MMEmbedFeatureExtractor()
    with caplog.at_level("WARNING"):
        implicit = extractor(tone(440.0, 0.5))["input_features"]
    assert "No sampling_rate was given with array audio: it is taken to be 16000 Hz" in caplog.text
    np.testing.assert_array_equal(implicit, extractor(tone(440.0, 0.5), sampling_rate=RATE)["input_features"])


def test_m4a_is_decoded_with_pyav(tmp_path):
    import av

    samples = speech_like(1.0)
    path = tmp_path / "utterance.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.rate = RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    decoded, rate = load_audio_file(path)
    assert rate == RATE
    assert abs(len(decoded) - len(samples)) < 3000  # the codec adds priming samples
    assert (
        np.corrcoef(np.abs(np.fft.rfft(decoded[: RATE // 2])), np.abs(np.fft.rfft(samples[: RATE // 2])))[0, 1] > 0.5
    )


def test_missing_pyav_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "clip.m4a"
    path.write_bytes(b"\x00" * 64)
    monkeypatch.setattr(audio_mmembed, "av", None)
    with pytest.raises(ImportError, match=r"pip install 'mmembed\[video\]'"):
        load_audio_file(path)


def test_per_utterance_normalisation_is_saved_and_ignores_padding(tmp_path):
    extractor = MMEmbedFeatureExtractor(do_normalize=True)
    batch = extractor([speech_like(1.0), speech_like(0.5, seed=5)])
    short = batch["input_features"][1][: int(batch["attention_mask"][1].sum())]
    np.testing.assert_allclose(short.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(short.std(0), 1.0, atol=1e-3)
    assert (batch["input_features"][1][len(short) :] == 0).all()
    extractor.save_pretrained(tmp_path)
    reloaded = MMEmbedFeatureExtractor.from_pretrained(tmp_path)
    assert reloaded.do_normalize is True
    assert "mel_filters" not in (tmp_path / "preprocessor_config.json").read_text()


def test_max_length_needs_truncation_to_cut():
    extractor = MMEmbedFeatureExtractor()
    with pytest.raises(ValueError, match=r"audio samples \[0\] are longer than max_length=50 \(\[98\]\)"):
        extractor(speech_like(1.0), max_length=50)
    cut = extractor(speech_like(1.0), max_length=50, truncation=True)
    assert cut["input_features"][0].shape == (50, 80)


@pytest.mark.parametrize(
    ("waveform", "rate", "message"),
    [
        (np.zeros(0, dtype=np.float32), RATE, r"audio\[0\] is empty"),
        (np.zeros(300, dtype=np.float32), RATE, r"has 300 samples at 16000 Hz, shorter than one 400-sample"),
        (np.array([0.1, np.nan] * 400, dtype=np.float32), RATE, r"holds 400 NaN/inf samples"),
        (np.array([0.1, np.inf] * 400, dtype=np.float32), RATE, r"holds 400 NaN/inf samples"),
        (np.zeros((2, 3, 800), dtype=np.float32), RATE, r"must be 1-D \(samples\) or 2-D channels-last; got shape"),
        (np.zeros((2, 16000), dtype=np.float32), RATE, r"looks channels-first"),
        (np.array(["a"] * 800), RATE, "must hold numbers"),
        (
            np.zeros(1600, dtype=np.float32),
            0,
            r"sampling_rate must be an integer number of Hz in \[4000, 192000\]; got 0",
        ),
        (np.zeros(1600, dtype=np.float32), -8000, r"in \[4000, 192000\]; got -8000"),
        (np.zeros(1600, dtype=np.float32), 1, r"in \[4000, 192000\]; got 1"),
        (np.zeros(1600, dtype=np.float32), 16000.5, r"in \[4000, 192000\]; got 16000.5"),
        (np.zeros(1600, dtype=np.float32), "16000", "must be an integer number of Hz; got str"),
    ],
)
def test_bad_input_raises_value_error(waveform, rate, message):
    with pytest.raises(ValueError, match=message):
        MMEmbedFeatureExtractor()([waveform], sampling_rate=rate)


def test_bad_configuration_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"sampling_rate must be an integer number of Hz in \[4000, 192000\]"):
        MMEmbedFeatureExtractor(sampling_rate=0)
    with pytest.raises(ValueError, match=r"Audio file .*missing\.wav does not exist"):
        MMEmbedFeatureExtractor()([str(tmp_path / "missing.wav")])
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not a wav file")
    with pytest.raises(ValueError, match=r"Cannot read audio file .*broken\.wav"):
        MMEmbedFeatureExtractor()([str(broken)])
