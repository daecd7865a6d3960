"""What the package declares: every extra that the code and the README tell users to install exists."""

import re
from importlib.metadata import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_extra_named_in_messages_and_docs_is_declared():
    declared = set(metadata("mmembed").get_all("Provides-Extra"))
    sources = [REPO / "README.md", *REPO.glob("*.py"), *(REPO / "modeling_mmembed").glob("*.py")]
    sources += [*(REPO / "data_scripts").glob("*.py"), *(REPO / "metrics").rglob("*.py")]
    named = {
        (path.name, extra)
        for path in sources
        for group in re.findall(r"mmembed\[([a-z,]+)\]", path.read_text())
        for extra in group.split(",")
    }
    assert named, "no extra is named anywhere: the pattern is wrong"
    assert {(name, extra) for name, extra in named if extra not in declared} == set()
