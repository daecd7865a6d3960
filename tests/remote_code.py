"""Run code in a fresh interpreter where importing the installed `modeling_mmembed` package fails."""

import os
import subprocess
import sys
import textwrap

import torch

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    class BlockInstalledPackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "modeling_mmembed":
                raise ImportError(f"{name} is blocked: code must load from the checkpoint's own files")

    sys.meta_path.insert(0, BlockInstalledPackage())
    """
)

LOAD_MODEL = textwrap.dedent(
    """
    import torch, transformers

    directory, auto_class, output_name, result_path = sys.argv[1:5]
    batch = torch.load(f"{directory}/../batch.pt")
    model = getattr(transformers, auto_class).from_pretrained(directory, trust_remote_code=True).eval()
    assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
    assert "modeling_mmembed" not in sys.modules
    with torch.no_grad():
        if output_name == "generate":
            result = model.generate(**batch, num_beams=2, max_new_tokens=12)
        else:
            result = getattr(model(**batch), output_name)
    torch.save(result, result_path)
    print(type(model).__name__)
    """
)


def run_without_installed_package(script: str, arguments: list[str], work_dir) -> str:
    """Run `script` (after the import blocker) with `arguments`, offline; returns its last line of output."""
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(work_dir / "modules"))
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER + script, *map(str, arguments)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=work_dir,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def load_with_remote_code(directory, batch: dict, auto_class: str, output_name: str, work_dir):
    """
    Load `directory` through `auto_class` with `trust_remote_code=True` without the installed package, run `batch`
    through it and return the class name and `output_name` of the output (or the tokens of `generate`).
    """
    torch.save(batch, directory.parent / "batch.pt")
    result_path = work_dir / f"{auto_class}-{output_name}.pt"
    class_name = run_without_installed_package(LOAD_MODEL, [directory, auto_class, output_name, result_path], work_dir)
    return class_name, torch.load(result_path)
