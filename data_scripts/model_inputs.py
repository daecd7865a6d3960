"""
How the dataset builders turn audio and text into model inputs, as the processor does at inference: audio by the
feature extractor a model is saved with (fbank `input_features` of `MMEmbedFeatureExtractor`, or the waveform
`input_values` of a pretrained speech encoder's own extractor), text strings by the text tokenizer (characters, or a
pretrained text encoder's tokens).
"""

import datasets
import numpy as np


def feature_extractor_config(extractor=None) -> dict:
    """
    The settings of `extractor` (default: a default `MMEmbedFeatureExtractor`) that shape its output: generators take
    them as arguments, so the datasets cache follows them and the training data can be featurised again. A speech
    encoder's extractor keeps all its settings, with its `feature_extractor_type`.
    """
    from modeling_mmembed import MMEmbedFeatureExtractor
    from modeling_mmembed.feature_extraction_mmembed import computes_fbank

    extractor = extractor or MMEmbedFeatureExtractor()
    settings = extractor.to_dict()
    if not computes_fbank(extractor):
        return {name: value for name, value in settings.items() if name != "processor_class"}
    return {
        name: settings[name]
        for name in ("feature_size", "sampling_rate", "dither", "do_normalize", "global_mean", "global_std")
    }


def reads_waveforms(extractor_config: dict) -> bool:
    """Whether the extractor of these settings is a speech encoder's (the waveform), not fbank."""
    return extractor_config.get("feature_extractor_type", "MMEmbedFeatureExtractor") != "MMEmbedFeatureExtractor"


def audio_column(extractor_config: dict) -> str:
    """The column of a corpus's audio: `input_values` (waveform) or `input_features` (fbank)."""
    return "input_values" if reads_waveforms(extractor_config) else "input_features"


def audio_feature(extractor_config: dict, dtype: str) -> dict:
    """The `datasets` column of a corpus's audio: `{name: feature}`, fbank frames or waveform samples in `dtype`."""
    if reads_waveforms(extractor_config):
        return {"input_values": datasets.List(datasets.Value(dtype))}
    return {"input_features": datasets.Array2D(shape=(None, extractor_config["feature_size"]), dtype=dtype)}


class InputFeaturizer:
    """
    One sample's audio -> its model input (`audio`), a string -> token ids (`text_ids`), with the extractor of
    `extractor_config` and `text_tokenizer` (default: `MMEmbedTokenizer`, characters). Picklable: builders make it in
    each process.
    """

    def __init__(self, extractor_config: dict, text_tokenizer=None):
        from modeling_mmembed import MMEmbedTokenizer
        from modeling_mmembed.feature_extraction_mmembed import feature_extractor_from_settings

        self.extractor = feature_extractor_from_settings(extractor_config)
        self.text_tokenizer = MMEmbedTokenizer() if text_tokenizer is None else text_tokenizer
        self.audio_column = audio_column(extractor_config)

    def audio(self, audio, sampling_rate: int | None = None, name: str = "audio") -> np.ndarray:
        """A waveform (array at `sampling_rate`, or a file path) -> fbank `(frames, size)` or waveform `(samples,)`."""
        from modeling_mmembed.feature_extraction_mmembed import featurize_audio

        return featurize_audio(self.extractor, audio, sampling_rate, name)

    def text_ids(self, text: str) -> list[int]:
        """The token ids the processor gives `text` (empty: no text)."""
        from modeling_mmembed.processing_mmembed import text_token_ids

        return text_token_ids(self.text_tokenizer, text)


__all__ = ["InputFeaturizer", "audio_column", "audio_feature", "feature_extractor_config", "reads_waveforms"]
