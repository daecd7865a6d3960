"""The diagnosis script (`python -m mmembed_training.diagnose`) on the small demo corpora, at a tiny budget."""

import json

from mmembed_training import diagnose
from mmembed_training.arguments import RunArguments
from mmembed_training.data import corpus_input_sizes, load_corpus
from modeling_mmembed import EMOTIONS, MMEmbedConfig, MMEmbedForEmotionRecognition


def test_diagnosis_writes_curves_probes_and_a_plot(demo_root, tmp_path):
    output = tmp_path / "diagnose"
    flags = ["--corpus", "demo-mosei", "--demo_root", str(demo_root), "--preset", "tiny", "--epochs", "2"]
    flags += ["--probe_epochs", "2", "--fit_examples", "16", "--output_dir", str(output)]
    flags += ["--config_overrides", "initializer_range=0.1,pooling=attention"]
    report = diagnose.main(flags)
    saved = json.loads((output / "diagnosis.json").read_text())
    assert saved["summary"] == report["summary"] and list(saved["summary"]) == list(EMOTIONS)
    curves = saved["learning_curves"]
    assert curves["epochs"] == [1, 2] and curves["config"]["pooling"] == "attention"
    for emotion in EMOTIONS:
        for split in ("validation", "train"):
            values = curves[f"{emotion}_auc"][split]
            assert len(values) == 2 and all(0.0 <= value <= 1.0 for value in values)
        probe = saved["cue_probes"][emotion]
        assert probe["streams"] == list(diagnose.CUE_STREAMS["demo-mosei"][emotion])
        assert len(probe["validation"]) == 2
    assert (output / "diagnosis.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_diagnosis_starts_from_a_checkpoint(demo_root, tmp_path):
    """`--model_name_or_path`: the learning curves of a model tuned from a checkpoint (as the default run's)."""
    corpus = load_corpus(RunArguments(stage="emotion", corpus="demo-mosei", demo_root=str(demo_root)), "emotion")
    sizes = {name: size for name, size in corpus_input_sizes(corpus["train"].features).items() if name != "modalities"}
    start = MMEmbedForEmotionRecognition(MMEmbedConfig.from_preset("tiny", hidden_size=16, **sizes))
    start.save_pretrained(tmp_path / "start")
    flags = ["--corpus", "demo-mosei", "--demo_root", str(demo_root), "--model_name_or_path", str(tmp_path / "start")]
    flags += ["--epochs", "1", "--probe_epochs", "1", "--fit_examples", "8", "--output_dir", str(tmp_path / "out")]
    report = diagnose.main(flags)
    assert report["learning_curves"]["config"]["hidden_size"] == 16  # the checkpoint's, not the small preset's 128


def test_cue_probe_reads_the_raw_corpus_transcript_as_token_ids(demo_root):
    """The raw corpus's text stream is token ids (the words' characters), not word vectors: the probe embeds them."""
    corpus = load_corpus(RunArguments(stage="emotion", corpus="demo", demo_root=str(demo_root)), "emotion")
    corpus = {split: corpus[split].with_format("numpy") for split in ("train", "validation")}
    assert "text_features" not in corpus["train"].column_names
    probe = diagnose.cue_probe(corpus, "sad", diagnose.CUE_STREAMS["demo"]["sad"], epochs=1, seed=0)
    assert probe["streams"] == list(diagnose.CUE_STREAMS["demo"]["sad"]) and "text" in probe["streams"]
    assert len(probe["validation"]) == 1 and 0.0 <= probe["validation"][0] <= 1.0


def test_diagnosis_with_no_epochs_runs_the_cue_probes_alone(demo_root, tmp_path):
    """`--epochs 0`: no model is trained; the summary and the plot carry the probes' own curves."""
    output = tmp_path / "probes"
    flags = ["--corpus", "demo-mosei", "--demo_root", str(demo_root), "--epochs", "0", "--probe_epochs", "2"]
    report = diagnose.main(flags + ["--output_dir", str(output)])
    assert "learning_curves" not in report and not (output / "model").exists()
    for emotion in EMOTIONS:
        assert set(report["summary"][emotion]) == {"probe_best_validation_auc", "probe_final_training_auc"}
        assert report["summary"][emotion]["probe_final_training_auc"] == report["cue_probes"][emotion]["train"][-1]
    assert (output / "diagnosis.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
