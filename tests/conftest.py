"""Shared builders for the tests: small deterministic configs, perturbed models and padded multimodal batches."""

import os

# Nothing in the tests may reach the network (set before huggingface_hub is imported, which reads them once).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from modeling_mmembed import MMEmbedConfig  # noqa: E402

FEATURE_SIZES = {"audio": 13, "visual": 7, "text": 11}


def tiny_config(**overrides) -> MMEmbedConfig:
    """The `tiny` preset without dropout and with small, distinct feature sizes per modality."""
    fields = {
        "audio_feature_size": FEATURE_SIZES["audio"],
        "visual_feature_size": FEATURE_SIZES["visual"],
        "text_feature_size": FEATURE_SIZES["text"],
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "classifier_dropout": 0.0,
    }
    fields.update(overrides)
    return MMEmbedConfig.from_preset("tiny", **fields)


def perturb_(model: torch.nn.Module, seed: int = 0, scale: float = 0.2) -> torch.nn.Module:
    """Add noise to every parameter (biases and norms included) so that zero-initialised terms cannot hide leaks."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)
    return model.eval()


def padded_batch(lengths: dict[str, list[int]], seed: int = 0, config: MMEmbedConfig | None = None) -> dict:
    """
    A batch with per-sample `lengths` for each modality; padding frames hold random non-zero values so that any
    leak through the padding changes the result.
    """
    generator = torch.Generator().manual_seed(seed)
    names = {
        "audio": ("input_features", "attention_mask"),
        "visual": ("visual_features", "visual_attention_mask"),
        "text": ("text_features", "text_attention_mask"),
    }
    batch = {}
    for modality, sample_lengths in lengths.items():
        feature_name, mask_name = names[modality]
        size = config.audio_feature_size if config is not None and modality == "audio" else FEATURE_SIZES[modality]
        max_length = max(sample_lengths)
        batch[feature_name] = torch.randn(len(sample_lengths), max_length, size, generator=generator) * 3.0 + 1.0
        mask = torch.zeros(len(sample_lengths), max_length, dtype=torch.long)
        for index, length in enumerate(sample_lengths):
            mask[index, :length] = 1
        batch[mask_name] = mask
    return batch


def sample(batch: dict, index: int) -> dict:
    """Sample `index` of a padded batch, alone and with its padding cut off."""
    features_of_mask = {
        "attention_mask": "input_features",
        "visual_attention_mask": "visual_features",
        "text_attention_mask": "text_features",
    }
    single = {}
    for mask_name, feature_name in features_of_mask.items():
        if mask_name not in batch:
            continue
        length = int(batch[mask_name][index].sum())
        single[feature_name] = batch[feature_name][index : index + 1, :length]
        single[mask_name] = batch[mask_name][index : index + 1, :length]
    return single


@pytest.fixture
def config() -> MMEmbedConfig:
    return tiny_config()


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """The small demo corpora (`CORPUS_SIZES["small"]`), generated once per test session (about 30 s)."""
    from data_scripts.demo_corpus import generate_demo_corpora

    root = tmp_path_factory.mktemp("demo-corpora")
    generate_demo_corpora(root, seed=0, size="small")
    return root
