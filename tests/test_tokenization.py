"""MMEmbedTokenizer: normalisation, round trips, agreement with the model config, saving."""

import pytest
from transformers import AutoTokenizer

from modeling_mmembed import MMEmbedConfig, MMEmbedTokenizer, normalize_transcript


@pytest.fixture(scope="module")
def tokenizer():
    return MMEmbedTokenizer()


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("Héllo, World!", "hello world"),
        ("naïve café — déjà vu", "naive cafe deja vu"),
        ("I’m here; you're THERE", "i'm here you're there"),
        ("Call 911 at 10:45", "call 911 at 10 45"),
        ("ＦＵＬＬ－ＷＩＤＴＨ １２３", "full width 123"),
        ("great 😀👍 job", "great job"),
        ("  spaced \t out \n text  ", "spaced out text"),
        ("well-known U.S.A.", "well known u s a"),
        ("", ""),
        ("?!…", ""),
    ],
)
def test_round_trip_returns_the_normalised_text(tokenizer, text, normalised):
    assert normalize_transcript(text) == normalised
    ids = tokenizer(text)["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == normalised


def test_letters_outside_the_vocabulary_become_unk(tokenizer):
    ids = tokenizer("мир ok", add_special_tokens=False)["input_ids"]
    assert ids[:3] == [tokenizer.unk_token_id] * 3
    assert tokenizer.decode(ids[3:]) == " ok"


def test_vocabulary_matches_the_model_config(tokenizer):
    config = MMEmbedConfig()
    assert tokenizer.vocab_size == len(tokenizer) == config.vocab_size == 42
    assert tokenizer.pad_token_id == config.pad_token_id == 0
    assert tokenizer.bos_token_id == config.decoder_start_token_id == config.bos_token_id == 1
    assert tokenizer.eos_token_id == config.eos_token_id == 2
    assert tokenizer.convert_tokens_to_ids([" ", "'", "a", "z", "0", "9"]) == [4, 5, 6, 31, 32, 41]


def test_batch_padding_and_batch_decode(tokenizer):
    batch = tokenizer(["Hello there.", "Hi!"], padding=True, return_tensors="pt")
    assert batch["input_ids"].shape == (2, 12)
    assert batch["attention_mask"].sum(-1).tolist() == [12, 3]
    assert tokenizer.batch_decode(batch["input_ids"], skip_special_tokens=True) == ["hello there", "hi"]


def test_save_and_reload(tmp_path, tokenizer):
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "vocab.json").exists()
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(reloaded) is MMEmbedTokenizer
    assert reloaded("Don't stop")["input_ids"] == tokenizer("Don't stop")["input_ids"]
