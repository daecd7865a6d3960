"""Joint CTC/attention decoding: the CTC prefix scorer against brute-force alignment sums, and `generate()` with it."""

import itertools
import math

import pytest
import torch

from modeling_mmembed import MMEmbedCTCPrefixScorer, MMEmbedForPreTraining

from .conftest import padded_batch, tiny_config

BLANK, START, EOS = 0, 1, 2
LABELS = (3, 4, 5)  # the tokens CTC emits here; EOS is never emitted
VOCAB = 6


def collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    """The CTC output of a frame path: repeats merged, then blanks removed."""
    merged = [token for index, token in enumerate(path) if index == 0 or token != path[index - 1]]
    return tuple(token for token in merged if token != BLANK)


def brute_force(log_probs: torch.Tensor) -> tuple[dict, dict]:
    """
    Over every frame path through `[T, V]` log-probs (blank and LABELS only): the probability of each output (`exact`)
    and of each output prefix (`prefix`: all paths whose output starts with it).
    """
    exact, prefix = {}, {}
    for path in itertools.product((BLANK, *LABELS), repeat=log_probs.shape[0]):
        probability = math.exp(sum(log_probs[frame, token].item() for frame, token in enumerate(path)))
        output = collapse(path)
        exact[output] = exact.get(output, 0.0) + probability
        for length in range(len(output) + 1):
            prefix[output[:length]] = prefix.get(output[:length], 0.0) + probability
    return exact, prefix


def ctc_distribution(frames: int, seed: int) -> torch.Tensor:
    """Random CTC log-probs `[frames, VOCAB]` with no mass on the start and end tokens."""
    logits = torch.randn(frames, VOCAB, generator=torch.Generator().manual_seed(seed))
    logits[:, [START, EOS]] = -1e4
    return logits.log_softmax(dim=-1)


def scorer_for(log_probs: torch.Tensor, frame_mask: torch.Tensor) -> MMEmbedCTCPrefixScorer:
    return MMEmbedCTCPrefixScorer(log_probs, frame_mask, 1.0, BLANK, EOS, never_emitted=[BLANK, START])


@pytest.mark.parametrize("prefix", [(), (3,), (4, 4), (3, 5), (5, 3, 5)])
def test_scores_equal_brute_force_sums_over_alignments(prefix):
    """With ctc_weight=1 a token's score is log p(h + c ...) - log p(h ...); EOS's is log p(h) - log p(h ...)."""
    log_probs = ctc_distribution(5, seed=0)
    exact, prefixes = brute_force(log_probs)
    scores = scorer_for(log_probs[None], torch.ones(1, 5, dtype=torch.bool))(
        torch.tensor([[START, *prefix]]), torch.zeros(1, VOCAB)
    )[0]
    base = math.log(prefixes[prefix])
    for token in LABELS:
        assert scores[token].item() == pytest.approx(math.log(prefixes[prefix + (token,)]) - base, abs=1e-5)
    assert scores[EOS].item() == pytest.approx(math.log(exact[prefix]) - base, abs=1e-5)
    assert scores[BLANK].item() == scores[START].item() == float("-inf")


def test_padded_frames_do_not_count_and_rows_follow_their_utterance():
    """A batch of a 5-frame and a 3-frame utterance (padded to 5), two hypotheses each: every row is scored on its own
    utterance's real frames, whatever the other rows hold."""
    long, short = ctc_distribution(5, seed=1), ctc_distribution(3, seed=2)
    padded = torch.cat([short, torch.randn(2, VOCAB).log_softmax(dim=-1)])
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    scores = scorer_for(torch.stack([long, padded]), mask)(
        torch.tensor([[START, 3], [START, 4], [START, 4], [START, 3]]), torch.zeros(4, VOCAB)
    )
    for row, (log_probs, prefix) in enumerate([(long, (3,)), (long, (4,)), (short, (4,)), (short, (3,))]):
        exact, prefixes = brute_force(log_probs)
        base = math.log(prefixes[prefix])
        assert scores[row, 5].item() == pytest.approx(math.log(prefixes[prefix + (5,)]) - base, abs=1e-5)
        assert scores[row, EOS].item() == pytest.approx(math.log(exact[prefix]) - base, abs=1e-5)


def test_joint_score_mixes_attention_and_ctc_by_the_weight():
    log_probs = ctc_distribution(4, seed=3)
    attention = torch.randn(1, VOCAB)
    ids, mask = torch.tensor([[START, 4]]), torch.ones(1, 4, dtype=torch.bool)
    ctc_only = scorer_for(log_probs[None], mask)(ids, attention)
    joint = MMEmbedCTCPrefixScorer(log_probs[None], mask, 0.3, BLANK, EOS, [BLANK, START])(ids, attention)
    expected = 0.7 * attention.log_softmax(dim=-1) + 0.3 * ctc_only
    torch.testing.assert_close(joint[:, 3:], expected[:, 3:])
    assert joint[0, BLANK].item() == float("-inf")


def test_finished_hypotheses_are_left_alone():
    """Rows that already hold EOS (greedy search pads them afterwards) keep the scores they were given."""
    log_probs = ctc_distribution(4, seed=4)
    attention = torch.randn(2, VOCAB)
    scores = scorer_for(log_probs[None].expand(2, -1, -1), torch.ones(2, 4, dtype=torch.bool))(
        torch.tensor([[START, 3, EOS], [START, 3, 4]]), attention
    )
    torch.testing.assert_close(scores[0], attention[0])
    assert not torch.equal(scores[1], attention[1])


@pytest.mark.parametrize("weight", [0.0, 1.5])
def test_weight_outside_the_unit_interval_is_refused(weight):
    with pytest.raises(ValueError, match="ctc_weight must be in"):
        MMEmbedCTCPrefixScorer(ctc_distribution(3, 0)[None], torch.ones(1, 3, dtype=torch.bool), weight, 0, 2, [0])


def model_with_ctc(ctc_loss_weight: float) -> MMEmbedForPreTraining:
    torch.manual_seed(0)
    return MMEmbedForPreTraining(tiny_config(num_speakers=2, ctc_loss_weight=ctc_loss_weight)).eval()


def test_generate_decodes_each_utterance_of_a_batch_as_if_alone():
    """Beam search with the scorer: a batch gives each utterance the tokens it gets on its own (rows are mapped to
    their utterance's CTC output, also after the beams are reordered)."""
    model = model_with_ctc(0.3)
    batch = padded_batch({"audio": [61, 40], "visual": [15, 10], "text": [5, 4]}, seed=5)
    inputs = {key: batch[key] for key in ("input_features", "attention_mask")}
    together = model.generate(**inputs, num_beams=3, max_new_tokens=6, ctc_weight=0.5)
    for index in range(2):
        length = int(inputs["attention_mask"][index].sum())
        alone = model.generate(
            input_features=inputs["input_features"][index : index + 1, :length],
            attention_mask=inputs["attention_mask"][index : index + 1, :length],
            num_beams=3,
            max_new_tokens=6,
            ctc_weight=0.5,
        )
        assert together[index, : alone.shape[1]].tolist() == alone[0].tolist()


def test_ctc_weight_defaults_to_the_training_share_and_survives_save_and_load(tmp_path):
    model = model_with_ctc(0.3)
    assert model.generation_config.ctc_weight == 0.3
    model.save_pretrained(tmp_path)
    assert MMEmbedForPreTraining.from_pretrained(tmp_path).generation_config.ctc_weight == 0.3
    assert model_with_ctc(0.0).generation_config.ctc_weight == 0.0


def test_ctc_weight_without_a_ctc_head_is_refused():
    batch = padded_batch({"audio": [40], "visual": [10], "text": [4]}, seed=6)
    with pytest.raises(ValueError, match="needs a CTC head"):
        model_with_ctc(0.0).generate(
            input_features=batch["input_features"], attention_mask=batch["attention_mask"], ctc_weight=0.5
        )
