"""
The Python examples of `README.md` and of every page in `docs/` run as written: each document's examples in order, in
a working folder of its own (later examples use the files earlier ones wrote), with the README's stand-ins for the
reader's own files (a WAV, the default run's model, CMU-MOSEI) replaced by test fixtures of the same formats.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
EXAMPLES = [
    (document, index, code)
    for document in DOCUMENTS
    for index, code in enumerate(re.findall(r"```python\n(.*?)```", document.read_text(), flags=re.DOTALL))
]
DEFAULT_RUN_MODEL = "outputs/demo/raw-pretrained-all-seed0"


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory) -> dict[Path, Path]:
    """One working folder per document, holding what its reader would have: a WAV and the default run's model."""
    import numpy as np
    import soundfile
    import torch

    from modeling_mmembed import (
        MMEmbedConfig,
        MMEmbedFeatureExtractor,
        MMEmbedForEmotionRecognition,
        MMEmbedProcessor,
        MMEmbedTokenizer,
    )

    folders = {}
    for document in DOCUMENTS:
        folder = tmp_path_factory.mktemp(document.stem)
        soundfile.write(folder / "my-clip.wav", 0.1 * np.random.default_rng(0).standard_normal(44_100), 44_100)
        torch.manual_seed(0)  # a stand-in of the default run's model: its kind (text as token ids), untrained
        model = MMEmbedForEmotionRecognition(
            MMEmbedConfig.from_preset("tiny", text_feature_size=None, text_vocab_size=42)
        )
        model.save_pretrained(folder / DEFAULT_RUN_MODEL)
        MMEmbedProcessor(MMEmbedFeatureExtractor(), MMEmbedTokenizer()).save_pretrained(folder / DEFAULT_RUN_MODEL)
        folders[document] = folder
    return folders


@pytest.fixture(scope="module")
def user_data(tmp_path_factory) -> dict[str, str]:
    """The docs' stand-in paths for the user's own data -> test fixtures of the same formats."""
    from .mosei_fixture import write_fixture, write_wavs
    from .mosei_pickle_fixture import write_mmsa

    user = tmp_path_factory.mktemp("user")
    mosei = write_fixture(user / "CMU-MOSEI")
    write_wavs(mosei / "WAV_16000")
    return {"/data/CMU-MOSEI": str(mosei), "/data/MMSA/MOSEI/unaligned_50.pkl": str(write_mmsa(user / "mmsa.pkl"))}


def test_the_front_page_shows_how_to_classify_a_wav_and_every_docs_page_is_linked():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert any(document.name == "README.md" and "my-clip.wav" in code for document, _, code in EXAMPLES)
    for page in DOCUMENTS[1:]:
        assert f"](docs/{page.name})" in readme, page.name


@pytest.mark.parametrize(
    ("document", "index", "code"), EXAMPLES, ids=[f"{document.name}:{index}" for document, index, _ in EXAMPLES]
)
def test_example_runs(document, index, code, workdirs, user_data, monkeypatch):
    monkeypatch.chdir(workdirs[document])
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    for placeholder, path in user_data.items():
        code = code.replace(placeholder, path)
    exec(compile(code, f"{document.name} example {index}", "exec"), {"__name__": "__docs__"})
