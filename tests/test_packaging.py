"""What the package declares and ships: its extras, the training package with its resources, the console scripts."""

import re
import subprocess
import sys
import zipfile
from importlib.metadata import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_extra_named_in_messages_and_docs_is_declared():
    declared = set(metadata("mmembed").get_all("Provides-Extra"))
    sources = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *REPO.glob("*.py")]
    sources += [*(REPO / "modeling_mmembed").glob("*.py")]
    sources += [*(REPO / "data_scripts").glob("*.py"), *(REPO / "metrics").rglob("*.py")]
    named = {
        (path.name, extra)
        for path in sources
        for group in re.findall(r"mmembed\[([a-z,]+)\]", path.read_text())
        for extra in group.split(",")
    }
    assert named, "no extra is named anywhere: the pattern is wrong"
    assert {(name, extra) for name, extra in named if extra not in declared} == set()


def test_the_wheel_carries_the_training_package_its_resources_and_the_console_script(tmp_path):
    """`pip install "mmembed[train]"` trains without a checkout: configs, card template and metric come along."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = tmp_path.glob("mmembed-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "mmembed_training/run.py",
        "mmembed_training/model_card.md",
        "mmembed_training/configs/demo.yaml",
        "mmembed_training/configs/mosei_sdk.yaml",
        "mmembed_training/metrics/mmembed_emotion/mmembed_emotion.py",
        "data_scripts/cmu_mosei_standard_folds.json",
    ):
        assert name in names, name
    (entry_points,) = [name for name in names if name.endswith("entry_points.txt")]
    assert "mmembed-train = mmembed_training.cli:console" in zipfile.ZipFile(wheel).read(entry_points).decode()
