"""MMEmbedProcessor and OpenFace CSVs: every modality combination, per-sample absence, model-ready output."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_mmembed import (
    MMEmbedConfig,
    MMEmbedFeatureExtractor,
    MMEmbedForPreTraining,
    MMEmbedProcessor,
    MMEmbedTokenizer,
    read_openface_csv,
)

from .audio_signals import speech_like

OPENFACE_CSV = Path(__file__).parent / "fixtures" / "openface2_sample.csv"


@pytest.fixture(scope="module")
def processor():
    return MMEmbedProcessor(MMEmbedFeatureExtractor(), MMEmbedTokenizer())


def two_samples():
    rng = np.random.default_rng(0)
    return {
        "audio": [speech_like(1.0), speech_like(0.6, seed=4)],
        "visual": [rng.standard_normal((30, 35)).astype(np.float32), rng.standard_normal((18, 35)).astype(np.float32)],
        "text_strings": ["Hello there!", "hi"],
        "text_vectors": [
            rng.standard_normal((2, 300)).astype(np.float32),
            rng.standard_normal((1, 300)).astype(np.float32),
        ],
        "transcript": ["Hello there!", "Hi."],
    }


def pad_by_hand(items, pad_value=0):
    width = max(len(item) for item in items)
    values = np.full((len(items), width, *np.asarray(items[0]).shape[1:]), pad_value, dtype=np.asarray(items[0]).dtype)
    mask = np.zeros((len(items), width), dtype=np.int64)
    for index, item in enumerate(items):
        values[index, : len(item)] = item
        mask[index, : len(item)] = 1
    return values, mask


OPTIONAL = ("visual", "text_strings", "text_vectors", "transcript")
COMBINATIONS = [
    combination
    for size in range(len(OPTIONAL) + 1)
    for combination in itertools.combinations(OPTIONAL, size)
    if not {"text_strings", "text_vectors"} <= set(combination)
]


@pytest.mark.parametrize("present", COMBINATIONS, ids=lambda names: "+".join(("audio", *names)))
def test_every_combination_equals_the_pieces_by_hand(processor, present):
    samples = two_samples()
    kwargs = {"audio": samples["audio"], "sampling_rate": 16000}
    if "visual" in present:
        kwargs["visual"] = samples["visual"]
    if "text_strings" in present:
        kwargs["text"] = samples["text_strings"]
    if "text_vectors" in present:
        kwargs["text"] = samples["text_vectors"]
    if "transcript" in present:
        kwargs["transcript"] = samples["transcript"]
    output = processor(**kwargs)

    expected = dict(processor.feature_extractor(samples["audio"], sampling_rate=16000, return_tensors="np"))
    if "visual" in present:
        expected["visual_features"], expected["visual_attention_mask"] = pad_by_hand(samples["visual"])
    if "text_strings" in present:
        ids = [processor.tokenizer(text, add_special_tokens=False)["input_ids"] for text in samples["text_strings"]]
        expected["text_input_ids"], expected["text_attention_mask"] = pad_by_hand(
            [np.array(row) for row in ids], pad_value=processor.tokenizer.pad_token_id
        )
    if "text_vectors" in present:
        expected["text_features"], expected["text_attention_mask"] = pad_by_hand(samples["text_vectors"])
    if "transcript" in present:
        ids = [processor.tokenizer(text)["input_ids"] for text in samples["transcript"]]
        expected["labels"], _ = pad_by_hand([np.array(row) for row in ids], pad_value=-100)
    assert set(output) == set(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(np.asarray(output[name]), value, err_msg=name)


def test_per_sample_absence_is_an_all_zero_mask(processor):
    samples = two_samples()
    output = processor(
        audio=samples["audio"], visual=[None, samples["visual"][1]], text=["spoken words", None], return_tensors="pt"
    )
    assert output["visual_attention_mask"].sum(-1).tolist() == [0, 18]
    assert output["text_attention_mask"].sum(-1).tolist() == [12, 0]
    assert (output["visual_features"][0] == 0).all()


def test_a_modality_absent_from_every_sample_is_omitted(processor):
    output = processor(audio=two_samples()["audio"], visual=[None, None])
    assert "visual_features" not in output and "visual_attention_mask" not in output


def test_processor_output_feeds_the_pretraining_model(processor):
    samples = two_samples()
    config = MMEmbedConfig.from_preset("tiny", num_speakers=2, text_feature_size=None, text_vocab_size=42)
    model = MMEmbedForPreTraining(config)
    batch = processor(
        audio=samples["audio"],
        visual=[samples["visual"][0], None],
        text=samples["text_strings"],
        transcript=samples["transcript"],
        return_tensors="pt",
    )
    output = model(**batch, speaker_labels=torch.tensor([0, 1]))
    assert torch.isfinite(output.loss)
    assert output.logits.shape == (2, batch["labels"].shape[1], 42)


def test_openface_csv_with_the_real_header():
    action_units = read_openface_csv(OPENFACE_CSV)
    assert action_units.shape == (5, 35) and action_units.dtype == np.float32
    assert (action_units[3] == 0).all()  # frame 4: tracking failed, OpenFace wrote zeros
    assert set(np.unique(action_units[:, 17:])) <= {0.0, 1.0}  # presences
    header = [name.strip() for name in OPENFACE_CSV.read_text().splitlines()[0].split(",")]
    assert len(header) == 714
    first_row = [float(value) for value in OPENFACE_CSV.read_text().splitlines()[1].split(",")]
    assert action_units[0, 0] == pytest.approx(first_row[header.index("AU01_r")])
    assert read_openface_csv(OPENFACE_CSV, "pose").shape == (5, 6)
    assert read_openface_csv(OPENFACE_CSV, "all").shape == (5, 709)
    gaze = read_openface_csv(OPENFACE_CSV, ["gaze_angle_x", "gaze_angle_y"])
    assert gaze[1, 1] == pytest.approx(first_row_of(OPENFACE_CSV, 2)[header.index("gaze_angle_y")])


def first_row_of(path: Path, line: int) -> list[float]:
    return [float(value) for value in path.read_text().splitlines()[line].split(",")]


def test_processor_reads_openface_csv_paths(processor):
    samples = two_samples()
    output = processor(audio=samples["audio"], visual=[str(OPENFACE_CSV), None], visual_columns="au_intensities")
    assert output["visual_features"].shape == (2, 5, 17)
    assert output["visual_attention_mask"].tolist() == [[1] * 5, [0] * 5]


@pytest.mark.parametrize(
    ("content", "columns", "message"),
    [
        ("face, confidence, AU01_r\n0, 0.9, 1.0\n", "action_units", "is not an OpenFace 2 video CSV"),
        (
            "frame, face_id, timestamp, confidence, success, AU01_r\n1, 0, 0.0, 0.9, 1, 0.5\n",
            "action_units",
            r"lacks the OpenFace columns \['AU02_r'",
        ),
        (
            "frame, face_id, timestamp, confidence, success, AU01_r\n1, 0, 0.0, 0.9, 1, abc\n",
            ["AU01_r"],
            "holds a value that is not a number",
        ),
        ("frame, face_id, timestamp, confidence, success, AU01_r\n", ["AU01_r"], "has a header but no frames"),
        (
            "frame, face_id, timestamp, confidence, success, AU01_r, AU01_r\n1, 0, 0.0, 0.9, 1, 0.5, 0.7\n",
            ["AU01_r"],
            r"names the columns \['AU01_r'\] more than once",
        ),
        (
            "frame, face_id, timestamp, confidence, success, AU01_r\n" + "1, 0, 0.0, 0.9, 1, 0.5\n" * 4,
            ["AU01_r"],
            "has more than 3 frames; at most 3 are accepted",
        ),
        (
            "frame, face_id, timestamp, confidence, success, AU01_r\n1, 0, 0.0, 0.9, 1, 0.5\n",
            "mouth",
            "Unknown OpenFace column group 'mouth'",
        ),
    ],
)
def test_bad_openface_csv(tmp_path, content, columns, message):
    path = tmp_path / "face.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_openface_csv(path, columns, max_frames=3)


def test_a_binary_openface_file_names_the_file(tmp_path):
    path = tmp_path / "face.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary")
    with pytest.raises(ValueError, match=r"face\.csv is not an OpenFace 2 CSV: it is not UTF-8 text"):
        read_openface_csv(path)


@pytest.mark.parametrize("transcript", ["", "!!!", "🎉😀", " ... "])
def test_text_with_nothing_left_after_normalisation_is_no_text(processor, transcript):
    batch = processor(audio=two_samples()["audio"], text=[transcript, "hello there"], return_tensors="pt")
    assert batch["text_attention_mask"][0].sum() == 0 and batch["text_attention_mask"][1].sum() == 11
    assert batch["text_input_ids"].dtype == torch.int64
    alone = processor(audio=two_samples()["audio"][:1], text=[transcript], return_tensors="pt")
    assert "text_input_ids" not in alone  # no sample has text: the modality is left out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"visual": [np.zeros((3, 35))]}, r"visual has 1 entries but audio has 2"),
        ({"visual": [np.zeros((3, 35)), np.zeros((3, 34))]}, "visual samples have different feature sizes"),
        ({"visual": [np.zeros((0, 35)), None]}, r"visual\[0\] must be a \(frames, features\) array"),
        ({"visual": [np.full((3, 35), np.nan), None]}, r"visual\[0\] holds 105 NaN/inf values"),
        ({"text": ["words", np.zeros((2, 300))]}, "text mixes strings and word-vector arrays"),
        ({"transcript": ["hello", None]}, r"transcript is missing for samples \[1\]"),
        (
            {"visual": [np.zeros((30, 35)), None], "max_visual_frames": 20},
            r"visual samples \[0\] are longer than max_length=20 \(\[30\]\)",
        ),
        ({"text": "one string"}, "text must be a list with one entry"),
        (
            {"visual": [{"frames": [[0.0] * 35]}, None]},
            r"visual\[0\] must be a \(frames, features\) array or nested list; got dict",
        ),
    ],
)
def test_bad_processor_input(processor, kwargs, message):
    with pytest.raises(ValueError, match=message):
        processor(audio=two_samples()["audio"], **kwargs)


def test_truncation_cuts_only_when_asked(processor):
    samples = two_samples()
    output = processor(audio=samples["audio"], visual=samples["visual"], max_visual_frames=20, truncation=True)
    assert output["visual_features"].shape == (2, 20, 35)
    assert output["visual_attention_mask"].sum(-1).tolist() == [20, 18]


def test_save_and_reload_with_auto_processor(tmp_path, processor):
    from transformers import AutoProcessor

    processor.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(reloaded) is MMEmbedProcessor
    samples = two_samples()
    first = processor(audio=samples["audio"], transcript=samples["transcript"])
    second = reloaded(audio=samples["audio"], transcript=samples["transcript"])
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])


LOAD_FRONT_END = """
import numpy as np, transformers

directory = sys.argv[1]
processor = transformers.AutoProcessor.from_pretrained(directory, trust_remote_code=True)
extractor = transformers.AutoFeatureExtractor.from_pretrained(directory, trust_remote_code=True)
tokenizer = transformers.AutoTokenizer.from_pretrained(directory, trust_remote_code=True)
for loaded in (processor, extractor, tokenizer):
    assert type(loaded).__module__.startswith("transformers_modules."), type(loaded).__module__
assert "modeling_mmembed" not in sys.modules
audio = np.load(f"{directory}/../audio.npy")
batch = processor(audio=[audio], visual=[f"{directory}/../face.csv"], text=["Hi there"], transcript=["Hi there!"])
np.savez(f"{directory}/../remote.npz", **batch, extracted=extractor(audio)["input_features"],
         tokens=np.array(tokenizer("Hi there!")["input_ids"]))
print(type(processor).__name__, type(extractor).__name__, type(tokenizer).__name__)
"""


def test_front_end_loads_with_remote_code_without_the_installed_package(tmp_path, processor):
    from .remote_code import run_without_installed_package

    directory = tmp_path / "front_end"
    processor.save_pretrained(directory)
    audio = speech_like(0.7)
    np.save(tmp_path / "audio.npy", audio)
    (tmp_path / "face.csv").write_text(OPENFACE_CSV.read_text())
    names = run_without_installed_package(LOAD_FRONT_END, [directory], tmp_path)
    assert names == "MMEmbedProcessor MMEmbedFeatureExtractor MMEmbedTokenizer"
    remote = np.load(tmp_path / "remote.npz")
    local = processor(audio=[audio], visual=[str(OPENFACE_CSV)], text=["Hi there"], transcript=["Hi there!"])
    for name, value in local.items():
        np.testing.assert_array_equal(remote[name], value, err_msg=name)
    np.testing.assert_array_equal(remote["extracted"], processor.feature_extractor(audio)["input_features"])
    np.testing.assert_array_equal(remote["tokens"], processor.tokenizer("Hi there!")["input_ids"])
