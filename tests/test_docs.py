"""The README's Python examples run as written, in order, in one working folder (later ones use earlier files)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("readme")


@pytest.fixture(scope="module")
def user_data(tmp_path_factory) -> dict[str, str]:
    """The README's stand-in paths for the user's own data -> test fixtures of the same formats."""
    from .mosei_fixture import write_fixture, write_wavs
    from .mosei_pickle_fixture import write_mmsa

    user = tmp_path_factory.mktemp("user")
    mosei = write_fixture(user / "CMU-MOSEI")
    write_wavs(mosei / "WAV_16000")
    return {"/data/CMU-MOSEI": str(mosei), "/data/MMSA/MOSEI/unaligned_50.pkl": str(write_mmsa(user / "mmsa.pkl"))}


def test_readme_has_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_readme_example_runs(index, workdir, user_data, monkeypatch):
    monkeypatch.chdir(workdir)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    source = EXAMPLES[index]
    for placeholder, path in user_data.items():
        source = source.replace(placeholder, path)
    exec(compile(source, f"README.md example {index}", "exec"), {"__name__": "__readme__"})
