"""Pipelines, embeddings export and the endpoint handler, on models overfitted to give known answers."""

import base64
import io
import json
import re

import numpy as np
import pytest
import soundfile
import torch

from modeling_mmembed import (
    MMEmbedConfig,
    MMEmbedFeatureExtractor,
    MMEmbedForEmotionRecognition,
    MMEmbedForPreTraining,
    MMEmbedProcessor,
    MMEmbedTokenizer,
)
from modeling_mmembed.export_embeddings import main as export_embeddings
from modeling_mmembed.pipeline_mmembed import merge_chunk_transcripts

from .audio_signals import RATE, chirp_with_noise, speech_like, tone
from .remote_code import run_without_installed_package

CLIP_SECONDS = 2.0
TRANSCRIPTS = ["good morning", "see you soon", "well done"]
EMOTIONS = [["happy", "surprise"], ["sad"], ["anger", "disgust", "fear"]]


def clips() -> list[np.ndarray]:
    """Three 2 s clips that sound different: speech-like, a chirp, a noisy two-tone chord."""
    chord = (
        tone(330.0, CLIP_SECONDS)
        + tone(1200.0, CLIP_SECONDS)
        + 0.05 * np.random.default_rng(9).standard_normal(int(RATE * CLIP_SECONDS)).astype(np.float32)
    )
    return [speech_like(CLIP_SECONDS), chirp_with_noise(CLIP_SECONDS), chord.astype(np.float32)]


def visual_frames() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    return [rng.standard_normal((60, 35)).astype(np.float32) for _ in range(3)]


def emotion_targets(config: MMEmbedConfig) -> torch.Tensor:
    targets = torch.zeros(3, config.num_labels)
    for row, names in enumerate(EMOTIONS):
        for name in names:
            targets[row, config.label2id[name]] = 1.0
    return targets


def train(model, batches: list[dict], steps: int, learning_rate: float = 3e-3) -> None:
    torch.manual_seed(0)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    for step in range(steps):
        optimizer.zero_grad()
        model(**batches[step % len(batches)]).loss.backward()
        optimizer.step()
    model.eval()


@pytest.fixture(scope="module")
def processor():
    return MMEmbedProcessor(MMEmbedFeatureExtractor(), MMEmbedTokenizer())


@pytest.fixture(scope="module")
def emotion_dir(tmp_path_factory, processor):
    """An emotion model (text as token ids) that learned the three clips' emotions with and without video/text."""
    torch.manual_seed(0)
    config = MMEmbedConfig.from_preset(
        "tiny", text_feature_size=None, text_vocab_size=42, hidden_dropout=0.0, attention_dropout=0.0
    )
    model = MMEmbedForEmotionRecognition(config)
    labels = emotion_targets(config)
    full = dict(processor(audio=clips(), visual=visual_frames(), text=TRANSCRIPTS, return_tensors="pt"), labels=labels)
    audio_only = dict(processor(audio=clips(), return_tensors="pt"), labels=labels)
    train(model, [full, audio_only], steps=400)
    directory = tmp_path_factory.mktemp("emotion") / "model"
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def asr_dir(tmp_path_factory, processor):
    """A pre-training model that learned to transcribe the three clips."""
    torch.manual_seed(0)
    config = MMEmbedConfig.from_preset("tiny", num_speakers=3, hidden_dropout=0.0, attention_dropout=0.0)
    model = MMEmbedForPreTraining(config)
    batch = dict(processor(audio=clips(), transcript=TRANSCRIPTS, return_tensors="pt"))
    batch["speaker_labels"] = torch.tensor([0, 1, 2])
    train(model, [batch], steps=300)
    directory = tmp_path_factory.mktemp("asr") / "model"
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def wav_base64(samples: np.ndarray, rate: int = RATE) -> str:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV")
    return base64.b64encode(buffer.getvalue()).decode()


PIPELINES_WITHOUT_THE_PACKAGE = """
import json, numpy as np, transformers

emotion_dir, asr_dir, work = sys.argv[1:4]
clips = [np.load(f"{work}/clip{index}.npy") for index in range(3)]
visual = [np.load(f"{work}/visual{index}.npy") for index in range(3)]
transcripts = json.load(open(f"{work}/transcripts.json"))
results = {}

classifier = transformers.pipeline("audio-classification", model=emotion_dir, trust_remote_code=True, top_k=None)
results["audio-classification"] = [classifier({"array": clip, "sampling_rate": 16000}) for clip in clips]

emotion = transformers.pipeline("multimodal-emotion-recognition", model=emotion_dir, trust_remote_code=True)
inputs = [
    {"audio": clip, "visual": frames, "transcript": text} for clip, frames, text in zip(clips, visual, transcripts)
]
results["multimodal"] = emotion(inputs, batch_size=2)
results["multimodal-audio-only"] = emotion([f"{work}/clip0.wav"])

asr = transformers.pipeline("automatic-speech-recognition", model=asr_dir, trust_remote_code=True)
results["asr"] = [asr(clip)["text"] for clip in clips]
results["asr-file"] = asr(f"{work}/clip1.wav")["text"]
long_input = np.concatenate([clips[0], clips[1], clips[2]])
results["asr-chunked"] = asr(long_input, chunk_length_s=2.0, stride_length_s=0.0)["text"]

sys.path.insert(0, emotion_dir)
from handler import EndpointHandler

handler = EndpointHandler(emotion_dir)
results["handler"] = handler(json.load(open(f"{work}/request.json")))
results["handler-bad"] = handler({"inputs": {"audio": "%%% not base64 %%%"}})
for module in ("modeling_mmembed", "transformers_modules"):
    results[f"imported {module}"] = any(name.split(".")[0] == module for name in sys.modules)
json.dump(results, open(f"{work}/results.json", "w"))
print("done")
"""


def present(result: list[dict]) -> set[str]:
    return {item["label"] for item in result if item["score"] >= 0.5}


def test_every_pipeline_and_the_handler_without_the_installed_package(emotion_dir, asr_dir, tmp_path):
    samples = clips()
    for index, clip in enumerate(samples):
        np.save(tmp_path / f"clip{index}.npy", clip)
        np.save(tmp_path / f"visual{index}.npy", visual_frames()[index])
    soundfile.write(tmp_path / "clip0.wav", samples[0], RATE, subtype="FLOAT")
    soundfile.write(tmp_path / "clip1.wav", samples[1], RATE, subtype="FLOAT")
    (tmp_path / "transcripts.json").write_text(json.dumps(TRANSCRIPTS))
    request = {
        "inputs": {
            "audio": wav_base64(samples[2]),
            "visual": visual_frames()[2].tolist(),
            "transcript": TRANSCRIPTS[2],
        }
    }
    (tmp_path / "request.json").write_text(json.dumps(request))

    assert (
        run_without_installed_package(PIPELINES_WITHOUT_THE_PACKAGE, [emotion_dir, asr_dir, tmp_path], tmp_path)
        == "done"
    )
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["imported transformers_modules"] and not results["imported modeling_mmembed"]

    for result, expected in zip(results["audio-classification"], EMOTIONS, strict=True):
        assert len(result) == 6 and present(result) == set(expected)
    for result, expected in zip(results["multimodal"], EMOTIONS, strict=True):
        assert [item["label"] for item in result] == ["happy", "sad", "anger", "surprise", "disgust", "fear"]
        assert {item["label"] for item in result if item["present"]} == set(expected)
    assert {item["label"] for item in results["multimodal-audio-only"][0] if item["present"]} == set(EMOTIONS[0])

    assert results["asr"] == TRANSCRIPTS
    assert results["asr-file"] == TRANSCRIPTS[1]
    assert results["asr-chunked"] == " ".join(TRANSCRIPTS)

    assert {item["label"] for item in results["handler"] if item["present"]} == set(EMOTIONS[2])
    assert results["handler-bad"]["status"] == 400 and "not valid base64" in results["handler-bad"]["error"]


def test_emotion_pipeline_honours_dtype_and_device(emotion_dir):
    from transformers import pipeline

    emotion = pipeline(
        "multimodal-emotion-recognition",
        model=str(emotion_dir),
        trust_remote_code=True,
        dtype=torch.bfloat16,
        device="cpu",
    )
    assert emotion.model.dtype == torch.bfloat16 and emotion.device.type == "cpu"
    results = emotion(
        [{"audio": clip, "visual": frames} for clip, frames in zip(clips(), visual_frames(), strict=True)]
    )
    for result, expected in zip(results, EMOTIONS, strict=True):
        assert {item["label"] for item in result if item["present"]} == set(expected)


def test_emotion_pipeline_takes_file_bytes_and_a_transcript_without_letters_as_no_text(emotion_dir):
    from modeling_mmembed.pipeline_mmembed import MMEmbedEmotionPipeline

    model = MMEmbedForEmotionRecognition.from_pretrained(emotion_dir)
    emotion = MMEmbedEmotionPipeline(model=model, processor=MMEmbedProcessor.from_pretrained(emotion_dir))
    clip = clips()[1]
    from_array = emotion({"audio": clip, "sampling_rate": RATE})
    from_bytes = emotion({"audio": base64.b64decode(wav_base64(clip))})
    np.testing.assert_allclose([s["score"] for s in from_bytes], [s["score"] for s in from_array], atol=1e-4)
    for transcript in ("", "!!!", "🎉"):
        scores = emotion({"audio": clip, "sampling_rate": RATE, "transcript": transcript})
        assert [s["score"] for s in scores] == [s["score"] for s in from_array], transcript


def test_serving_limits_bound_every_input_before_conversion(emotion_dir):
    from modeling_mmembed.pipeline_mmembed import InputLimits, MMEmbedEmotionPipeline

    model = MMEmbedForEmotionRecognition.from_pretrained(emotion_dir)
    limits = InputLimits(max_audio_seconds=1.0, max_visual_frames=10, max_transcript_characters=5)
    emotion = MMEmbedEmotionPipeline(
        model=model, processor=MMEmbedProcessor.from_pretrained(emotion_dir), serving_limits=limits
    )
    clip = clips()[0]  # 2 s
    with pytest.raises(ValueError, match=r"audio lasts 2\.0 s; at most 1 s are accepted"):
        emotion({"audio": clip, "sampling_rate": RATE})
    with pytest.raises(ValueError, match=r"audio lasts 2\.0 s \(says its header\); at most 1 s"):
        emotion({"audio": base64.b64decode(wav_base64(clip))})
    short = clip[:RATE]
    with pytest.raises(ValueError, match="visual has 11 frames; at most 10 are accepted"):
        emotion({"audio": short, "sampling_rate": RATE, "visual": np.zeros((11, 35))})
    with pytest.raises(ValueError, match="transcript has 6 characters; at most 5 are accepted"):
        emotion({"audio": short, "sampling_rate": RATE, "transcript": "hello!"})
    assert len(emotion({"audio": short, "sampling_rate": RATE, "visual": np.zeros((10, 35)), "transcript": "hi"})) == 6


def test_merge_chunk_transcripts_keeps_overlapping_words_once():
    assert (
        merge_chunk_transcripts(["the cat sat on", "sat on the mat", "the mat today"])
        == "the cat sat on the mat today"
    )
    assert merge_chunk_transcripts(["good morning", "see you"]) == "good morning see you"
    assert merge_chunk_transcripts(["", "hello", ""]) == "hello"


def module_from_file(path):
    """A checkpoint's code file (`handler.py`) imported as the endpoint imports it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"checkpoint_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def handler(emotion_dir):
    module = module_from_file(emotion_dir / "handler.py")
    return module, module.EndpointHandler(str(emotion_dir))


def test_handler_answers_a_good_request(handler):
    module, endpoint = handler
    response = endpoint({"inputs": wav_base64(clips()[1])})
    assert {item["label"] for item in response if item["present"]} == set(EMOTIONS[1])
    json.dumps(response)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("just a string", "must be a JSON object with an 'inputs' field"),
        ({"input": "x"}, "must be a JSON object with an 'inputs' field"),
        ({"inputs": 42}, "must be a base64 audio string"),
        ({"inputs": {"audio": "not*base64!"}}, "audio is not valid base64"),
        ({"inputs": {"audio": base64.b64encode(b"RIFF....WAVEjunk").decode()}}, "Cannot read audio file audio"),
        (
            {"inputs": {"audio": "WAV_16K", "sampling_rate": 44100}},
            "sampling_rate is 44100 but the audio file's header says 16000 Hz",
        ),
        (
            {"inputs": {"audio": "WAV_2K"}},
            r"sampling rate of audio must be an integer number of Hz in \[4000, 192000\]",
        ),
        ({"inputs": {"audio": "WAV_LONG"}}, r"audio lasts 61\.0 s \(says its header\); at most 60 s"),
        ({"inputs": {"audio": "FLAC_BOMB"}}, r"audio lasts 300\.0 s \(says its header\); at most 60 s"),
        ({"inputs": {"audio": "WAV_16_CHANNELS"}}, "audio has 16 audio channels; at most 8"),
        (
            {"inputs": {"audio": "WAV_CUT"}},
            "audio is cut off: its WAV header declares 64000 bytes of audio but the file",
        ),
        (
            {"inputs": {"audio": "WAV_16K", "visual": [[0.0] * 34] * 5}},
            r"visual_features \(visual\) has 34 features per frame; the model expects 35",
        ),
        (
            {"inputs": {"audio": "WAV_16K", "visual": [[0.0] * 35, [0.0]]}},
            r"visual\[0\] must be a \(frames, features\) array of numbers",
        ),
        ({"inputs": {"audio": "WAV_16K", "visual": [[0.0] * 35] * 3601}}, "visual has 3601 frames; at most 3600"),
        ({"inputs": {"audio": "WAV_16K", "transcript": "a" * 1801}}, "transcript has 1801 characters; at most 1800"),
        ({"inputs": {"audio": "WAV_16K", "video": []}}, r"Unknown input fields \['video'\]"),
        ({"inputs": {"audio": "WAV_SHORT"}}, "shorter than one 400-sample"),
        ({"inputs": {"audio": "FLAC_CUT"}}, r"Cannot decode audio file audio: it is damaged or cut off"),
        ({"inputs": {"audio": "WAV_16K", "transcript": 5}}, "transcript must be text or .* word vectors; got int"),
        (
            {"inputs": {"audio": "WAV_16K", "sampling_rate": "16000"}},
            "sampling_rate must be an integer number of Hz; got str '16000'",
        ),
        ({"inputs": {"audio": "WAV_16K", "visual": {"a": 1}}}, "visual must be .* numbers or OpenFace CSV text"),
        (
            {"inputs": {"audio": "WAV_16K", "visual": "frame, face_id, AU01_r\n1, 0, x\n"}},
            r"the visual CSV lacks the OpenFace columns \['AU02_r'",
        ),
    ],
)
def test_handler_rejects_malformed_payloads_with_json_errors(handler, payload, message):
    module, endpoint = handler
    cut_off = base64.b64decode(wav_base64(np.zeros(32000, dtype=np.float32)))  # 64,000 bytes of 16-bit samples
    placeholders = {
        "WAV_16K": wav_base64(clips()[0]),
        "WAV_2K": wav_base64(np.zeros(2000, dtype=np.float32), 2000),
        "WAV_LONG": wav_base64(np.zeros(8000 * 61, dtype=np.float32), 8000),
        "FLAC_BOMB": base64.b64encode(flac_bomb()).decode(),
        "WAV_16_CHANNELS": wav_base64(np.zeros((1600, 16), dtype=np.float32)),
        "WAV_CUT": base64.b64encode(cut_off[: len(cut_off) // 2]).decode(),
        "WAV_SHORT": wav_base64(np.zeros(100, dtype=np.float32)),
        "FLAC_CUT": base64.b64encode(flac_file(clips()[0])[:3000]).decode(),
    }
    if isinstance(payload, dict) and isinstance(payload.get("inputs"), dict):
        audio = payload["inputs"]["audio"]
        payload = {"inputs": {**payload["inputs"], "audio": placeholders.get(audio, audio)}}
    response = endpoint(payload)
    assert response["status"] == 400
    assert re.search(message, response["error"]), response["error"]
    json.dumps(response)


def flac_file(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, format="FLAC")
    return buffer.getvalue()


@pytest.mark.parametrize("secret", ["one line of secret", "root:x:0:0:root:/root:/bin/bash\nsecond line"])
def test_handler_never_reads_a_file_a_request_names(handler, tmp_path, secret):
    module, endpoint = handler
    server_file = tmp_path / "secret.csv"
    server_file.write_text(secret)
    openface = (tmp_path / "face.csv").as_posix()
    (tmp_path / "face.csv").write_text("frame, face_id, timestamp, confidence, success\n" + "1, 0, 0.0, 0.9, 1\n")
    answers = []
    for path in (str(server_file), str(tmp_path / "missing.csv"), openface, "/etc/passwd"):
        response = endpoint({"inputs": {"audio": wav_base64(clips()[0]), "visual": path}})
        assert response["status"] == 400, response
        assert secret.split("\n")[0] not in response["error"] and "root:" not in response["error"]
        answers.append(response["error"])
    assert len(set(answers)) == 1, answers  # existing, missing and readable files answer alike: no oracle
    assert "is not an OpenFace 2 video CSV" in answers[0]


def test_handler_scores_openface_csv_text_sent_in_the_request(handler):
    module, endpoint = handler
    rows = "".join(f"{i}, 0, {i / 30:.3f}, 0.9, 1, " + ", ".join(["0.5"] * 35) + "\n" for i in range(1, 31))
    header = "frame, face_id, timestamp, confidence, success, " + ", ".join(list(module_columns()["action_units"]))
    response = endpoint({"inputs": {"audio": wav_base64(clips()[0]), "visual": header + "\n" + rows}})
    assert isinstance(response, list) and len(response) == 6, response


def module_columns():
    from modeling_mmembed.openface_mmembed import OPENFACE_COLUMN_GROUPS

    return OPENFACE_COLUMN_GROUPS


def flac_bomb() -> bytes:
    """A 300 s, 8-channel, 96 kHz FLAC of silence: about 240 KB that would decode to 880 MB."""
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros((96000 * 300, 8), dtype=np.int16), 96000, format="FLAC")
    return buffer.getvalue()


def test_handler_refuses_a_decompression_bomb_from_its_header_without_decoding_it(handler):
    import tracemalloc

    module, endpoint = handler
    request = {"inputs": base64.b64encode(flac_bomb()).decode()}
    tracemalloc.start()
    response = endpoint(request)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert response["status"] == 400 and "300.0 s" in response["error"]
    assert peak < 5_000_000, peak  # the request itself is 320 KB; decoding would take 880 MB


def test_handler_refuses_oversized_audio_before_decoding(handler, monkeypatch):
    module, endpoint = handler
    monkeypatch.setattr(module, "MAX_AUDIO_BASE64_CHARACTERS", 1000)
    response = endpoint({"inputs": wav_base64(clips()[0])})
    assert response["status"] == 400 and "audio is too large" in response["error"]


def test_get_embeddings_matches_the_encoder(emotion_dir, processor):
    model = MMEmbedForEmotionRecognition.from_pretrained(emotion_dir).eval()
    batch = processor(audio=clips(), visual=visual_frames(), text=TRANSCRIPTS, return_tensors="pt")
    with torch.no_grad():
        embeddings = model.get_embeddings(**batch)
        encoder = model.mmembed(**batch)
    assert embeddings.pooler_output.shape == (3, 32)
    torch.testing.assert_close(embeddings.pooler_output, encoder.pooler_output, atol=0, rtol=0)
    torch.testing.assert_close(embeddings.last_hidden_state, encoder.last_hidden_state, atol=0, rtol=0)


def test_export_embeddings_from_audio_files_and_a_dataset(emotion_dir, processor, tmp_path):
    import datasets
    import pyarrow.parquet as pq

    folder = tmp_path / "wavs"
    (folder / "speaker").mkdir(parents=True)
    for index, clip in enumerate(clips()):
        soundfile.write(folder / ("speaker" if index else "") / f"clip{index}.wav", clip, RATE, subtype="FLOAT")
    assert (
        export_embeddings(
            [
                str(emotion_dir),
                "--audio-dir",
                str(folder),
                "--output",
                str(tmp_path / "e.parquet"),
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    table = pq.read_table(tmp_path / "e.parquet").to_pydict()
    assert table["id"] == ["clip0.wav", "speaker/clip1.wav", "speaker/clip2.wav"]
    model = MMEmbedForEmotionRecognition.from_pretrained(emotion_dir).eval()
    with torch.no_grad():
        expected = [
            model.get_embeddings(**processor(audio=[clip], return_tensors="pt")).pooler_output[0] for clip in clips()
        ]
    for row, vector in zip(table["embedding"], expected, strict=True):
        np.testing.assert_allclose(row, vector.numpy(), atol=1e-5)

    features = [processor.feature_extractor.featurize(clip) for clip in clips()]
    dataset = datasets.DatasetDict(
        {
            "test": datasets.Dataset.from_dict(
                {
                    "id": ["a", "b", "c"],
                    "input_features": features,
                    "visual_features": [visual_frames()[0], np.zeros((0, 35), np.float32), visual_frames()[2]],
                }
            )
        }
    )
    dataset.save_to_disk(tmp_path / "prepared")
    arguments = [
        str(emotion_dir),
        "--dataset",
        str(tmp_path / "prepared"),
        "--split",
        "test",
        "--output",
        str(tmp_path / "d.npy"),
    ]
    assert export_embeddings(arguments) == 0
    matrix = np.load(tmp_path / "d.npy")
    assert matrix.shape == (3, 32)
    assert json.loads((tmp_path / "d.ids.json").read_text()) == ["a", "b", "c"]
    with torch.no_grad():
        without_video = model.get_embeddings(input_features=torch.from_numpy(features[1])[None]).pooler_output[0]
    np.testing.assert_allclose(matrix[1], without_video.numpy(), atol=1e-5)


def test_export_embeddings_rejects_an_unknown_output_format(emotion_dir, tmp_path):
    with pytest.raises(SystemExit):
        export_embeddings([str(emotion_dir), "--audio-dir", str(tmp_path), "--output", str(tmp_path / "e.csv")])


def test_every_pipeline_refuses_a_checkpoint_whose_head_would_be_random(emotion_dir, asr_dir):
    """A pre-training checkpoint has no emotion classifier: every emotion pipeline refuses it instead of guessing."""
    from transformers import pipeline

    import app

    for task in ("audio-classification", "multimodal-emotion-recognition"):
        with pytest.raises(ValueError, match=r"saved by MMEmbedForPreTraining that lacks classifier\..*random.*'aut"):
            pipeline(task, model=str(asr_dir), trust_remote_code=True)
    with pytest.raises(app.InputProblem, match="without the MMEmbedForEmotionRecognition head"):
        app.load_pipeline("multimodal-emotion-recognition", str(asr_dir))
    with pytest.raises(ValueError, match="initialised at random"):
        module_from_file(emotion_dir / "handler.py").EndpointHandler(str(asr_dir))
    # the model loaded on its own still works (tuning starts from exactly this), and says what it lacks
    model = MMEmbedForEmotionRecognition.from_pretrained(asr_dir)
    assert model.newly_initialized_weights
    assert all(name.startswith("classifier") for name in model.newly_initialized_weights)
    assert MMEmbedForEmotionRecognition.from_pretrained(emotion_dir).newly_initialized_weights == ()


def test_a_44_1_khz_array_with_its_rate_is_resampled_by_every_emotion_pipeline(emotion_dir):
    """`{"array", "sampling_rate": 44100}`: the same answer as the 16 kHz clip (soxr), in both emotion pipelines."""
    import soxr
    from transformers import pipeline

    clip = clips()[1]
    resampled = {"array": soxr.resample(clip, RATE, 44_100).astype(np.float32), "sampling_rate": 44_100}
    classifier = pipeline("audio-classification", model=str(emotion_dir), top_k=None)
    expected = {item["label"]: item["score"] for item in classifier(clip)}
    answer = {item["label"]: item["score"] for item in classifier(dict(resampled))}
    assert answer.keys() == expected.keys()
    np.testing.assert_allclose([answer[name] for name in expected], list(expected.values()), atol=0.02)

    emotion = pipeline("multimodal-emotion-recognition", model=str(emotion_dir), trust_remote_code=True)
    reference = [item["score"] for item in emotion(clip)]
    for given in (dict(resampled), {"audio": dict(resampled)}, {"audio": dict(resampled), "visual": None}):
        np.testing.assert_allclose([item["score"] for item in emotion(given)], reference, atol=0.02)
    with pytest.raises(ValueError, match='audio given as a dict must have "array"'):
        emotion({"audio": {"sampling_rate": 44_100}})
    with pytest.raises(ValueError, match="sampling_rate is 16000 but the audio dict says 44100"):
        emotion({"audio": dict(resampled), "sampling_rate": 16_000})
