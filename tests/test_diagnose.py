"""The diagnosis script (`python -m mmembed_training.diagnose`) on the small demo corpora, at a tiny budget."""

import json

from mmembed_training import diagnose
from modeling_mmembed import EMOTIONS


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
