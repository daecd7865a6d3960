# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
MMEmbed character tokenizer: transcripts as characters (space is the word boundary) for the ASR decoder's targets and
for `text_input_ids`. Encoding normalises the text first, so decoding returns the normalised transcript.
"""

import json
import os
import re
import unicodedata

from transformers import PreTrainedTokenizer

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
CHARACTERS = [" ", "'", *"abcdefghijklmnopqrstuvwxyz", *"0123456789"]
"""The character vocabulary after the four specials (ids 0-3): ids 4-41, matching `MMEmbedConfig.vocab_size=42`."""

VOCAB_FILES_NAMES = {"vocab_file": "vocab.json"}

APOSTROPHES = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"}


def normalize_transcript(text: str) -> str:
    """
    The text the tokenizer encodes: Unicode NFKC, lower case, accents folded to their base letters, typographic
    apostrophes made plain, other punctuation and symbols (emoji included) turned into spaces, whitespace collapsed.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(APOSTROPHES.get(character, character) for character in text)
    text = "".join(
        character for character in unicodedata.normalize("NFKD", text) if not unicodedata.combining(character)
    )
    text = "".join(character if _kept(character) else " " for character in text)
    return re.sub(r"\s+", " ", text).strip()


def _kept(character: str) -> bool:
    """Letters, digits and the apostrophe survive normalisation (letters outside a-z become `<unk>`)."""
    return character == "'" or unicodedata.category(character)[0] in ("L", "N")


class MMEmbedTokenizer(PreTrainedTokenizer):
    r"""
    Character tokenizer of MMEmbed. Ids 0-3 are `<pad>`, `<s>`, `</s>`, `<unk>`; then space, apostrophe, a-z and 0-9.
    With `add_special_tokens=True` (the default) `</s>` is appended, which is what the ASR `labels` end with.

    Args:
        vocab_file (`str`, *optional*):
            A `vocab.json` mapping tokens to ids; the built-in character vocabulary when omitted.
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, vocab_file: str | None = None, **kwargs):
        if vocab_file is None:
            self.encoder = {token: index for index, token in enumerate([*SPECIAL_TOKENS.values(), *CHARACTERS])}
        else:
            with open(vocab_file, encoding="utf-8") as handle:
                self.encoder = json.load(handle)
        self.decoder = {index: token for token, index in self.encoder.items()}
        for name, token in SPECIAL_TOKENS.items():
            kwargs.setdefault(name, token)
        kwargs.setdefault("special_tokens_pattern", "eos")
        super().__init__(**kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.encoder)

    def prepare_for_tokenization(self, text: str, is_split_into_words: bool = False, **kwargs) -> tuple[str, dict]:
        return normalize_transcript(text), kwargs

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return list(text)

    def _convert_token_to_id(self, token: str) -> int:
        return self.encoder.get(token, self.encoder[self.unk_token])

    def _convert_id_to_token(self, index: int) -> str:
        return self.decoder.get(index, self.unk_token)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "vocab.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.encoder, handle, ensure_ascii=False, indent=1)
        return (path,)


MMEmbedTokenizer.register_for_auto_class("AutoTokenizer")

__all__ = ["MMEmbedTokenizer", "normalize_transcript"]
