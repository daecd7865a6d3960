# Copyright 2026 The mmembed authors. Licensed under the Apache License, Version 2.0.
"""
Joint CTC/attention decoding (Watanabe et al., 2017, "Hybrid CTC/Attention Architecture for End-to-End Speech
Recognition"; ESPnet's `CTCPrefixScore`). At every `generate()` step each candidate token `c` of a hypothesis `h` is
scored `(1 - ctc_weight) * log p_att(c | h) + ctc_weight * (log p_ctc(h + c ...) - log p_ctc(h ...))`, where
`p_ctc(h ...)` is the CTC probability of every frame alignment that begins with the prefix `h` (for `</s>`: of `h`
exactly). The CTC term ties the decoder's hypotheses to the audio frame by frame (no skipped or invented words); the
decoder adds spelling and word context that frame-wise CTC lacks.

No maintained library offers this scorer as a `transformers` logits processor (torchaudio's and pyctcdecode's CTC
decoders search CTC alone), so it is written here. The recursions over frames are solved in closed form with
cumulative sums in float64, so there is no Python loop over frames; the loop over output tokens is `generate()`'s.
"""

import torch
from transformers import LogitsProcessor

NEG_INF = float("-inf")


def _shift_right(values: torch.Tensor, fill: float) -> torch.Tensor:
    """`values[..., t - 1]` at position `t` of the last dimension, `fill` at position 0."""
    return torch.nn.functional.pad(values[..., :-1], (1, 0), value=fill)


def extend_prefixes(
    token_log_probs: torch.Tensor,
    blank_log_probs: torch.Tensor,
    non_blank: torch.Tensor,
    blank: torch.Tensor,
    last_token: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    CTC forward variables of every one-token extension `h + c` of `R` prefixes `h`.

    Args:
        token_log_probs: `(rows, vocab_size, length)` float64 CTC log-probability of each token at each frame (the
            utterance of `h`).
        blank_log_probs: `(rows, length)` float64 log-probability of the blank at each frame.
        non_blank, blank: `(rows, length)` log-probability that an alignment of `h` ends at frame `t` on its last
            token, or on a blank after it.
        last_token: `(rows,)` the last token of each `h`, or None when every `h` is the empty prefix.
    Returns:
        `(rows, vocab_size, length)` `non_blank` and `blank` of each `h + c`, and `(rows, vocab_size, length)`
        `entering`: the log-probability that token `c` of `h + c` is first emitted at frame `t` (summed over `t`, the
        prefix score `log p(h + c ...)`).
    """
    num_tokens = token_log_probs.shape[1]
    ended = torch.logaddexp(non_blank, blank)[:, None, :].expand(-1, num_tokens, -1)
    if last_token is not None:  # a repeated token needs a blank in between
        repeats = torch.nn.functional.one_hot(last_token, num_tokens).bool()[..., None]
        ended = torch.where(repeats, blank[:, None, :], ended)
    # c starts at frame t when h ended at t - 1; the empty prefix has "ended" before frame 0 with probability 1
    starts = _shift_right(ended, NEG_INF if last_token is not None else 0.0)
    # non_blank[t] = (non_blank[t-1] + starts[t]) * p(c, t), i.e. a sum over start frames s of starts[s] * p(c, s..t)
    token_cumulative = token_log_probs.cumsum(dim=-1)
    new_non_blank = torch.logcumsumexp(starts - (token_cumulative - token_log_probs), dim=-1) + token_cumulative
    # blank[t] = (non_blank[t-1] + blank[t-1]) * p(blank, t), i.e. a sum over the frames s < t where c was last seen
    blank_cumulative = blank_log_probs.cumsum(dim=-1)[:, None, :]
    new_blank = _shift_right(torch.logcumsumexp(new_non_blank - blank_cumulative, dim=-1), NEG_INF)
    return new_non_blank, new_blank + blank_cumulative, starts + token_log_probs


class MMEmbedCTCPrefixScorer(LogitsProcessor):
    r"""
    [`LogitsProcessor`] for joint CTC/attention decoding with [`MMEmbedForPreTraining.generate`] (pass
    `ctc_weight`, or set `generation_config.ctc_weight`). Works with greedy search and beam search: hypotheses are
    recognised by their tokens, whatever order `generate()` keeps them in.

    Args:
        ctc_log_probs (`torch.Tensor` of shape `(batch_size, frames, vocab_size)`):
            Log-softmax of the CTC head over the decoder's memory.
        frame_mask (`torch.Tensor` of shape `(batch_size, frames)`):
            Which frames are real (not padding).
        ctc_weight (`float`):
            Share of the CTC prefix score, in (0, 1].
        blank_token_id (`int`):
            The CTC blank (MMEmbed: `<pad>`).
        eos_token_id (`int`, `list[int]` or `None`):
            End of sequence (the generation config's): scored with the probability of the complete hypothesis. With
            `None`, hypotheses never end early (generation stops at its length limit).
        never_emitted (`list[int]`):
            Tokens CTC never emits (the blank, `<s>`): their scores become `-inf`.
    """

    def __init__(
        self,
        ctc_log_probs: torch.Tensor,
        frame_mask: torch.Tensor,
        ctc_weight: float,
        blank_token_id: int,
        eos_token_id: int | list[int] | None,
        never_emitted: list[int],
    ):
        if not 0.0 < ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in (0, 1], got {ctc_weight}.")
        log_probs = ctc_log_probs.double().masked_fill(~frame_mask[..., None], 0.0)
        self.token_log_probs = log_probs.transpose(1, 2)  # (batch_size, vocab_size, frames)
        self.blank_log_probs = log_probs[..., blank_token_id]  # (batch_size, frames)
        self.frame_mask = frame_mask
        self.last_frame = frame_mask.sum(dim=-1) - 1
        self.ctc_weight = ctc_weight
        self.eos_token_ids = (
            [] if eos_token_id is None else [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
        )
        self.never_emitted = list(never_emitted)
        self._extensions: dict[tuple, tuple[torch.Tensor, ...]] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """
        `input_ids` `(rows, target_length)` (decoder start token first), attention `scores` `(rows, vocab_size)` ->
        joint scores `(rows, vocab_size)`.
        """
        rows = input_ids.shape[0]
        utterance = torch.arange(rows, device=input_ids.device) // (rows // self.token_log_probs.shape[0])
        prefixes = [tuple(prefix) for prefix in input_ids[:, 1:].tolist()]
        finished = [any(eos in prefix for eos in self.eos_token_ids) for prefix in prefixes]
        # finished rows are not scored: any state will do for them, the empty prefix's is at hand
        keys = [
            (index, () if done else prefix)
            for index, prefix, done in zip(utterance.tolist(), prefixes, finished, strict=True)
        ]
        non_blank, blank, prefix_score = (torch.stack(parts) for parts in zip(*map(self._state, keys), strict=True))
        last_token = input_ids[:, -1] if input_ids.shape[1] > 1 else None
        extensions = self._extend(utterance, non_blank, blank, last_token)
        self._extensions = {
            key: tuple(part[row] for part in extensions)
            for row, (key, done) in enumerate(zip(keys, finished, strict=True))
            if not done
        }
        ctc_scores = extensions[2] - prefix_score[:, None]
        complete = torch.logaddexp(non_blank, blank).gather(1, self.last_frame[utterance][:, None])[:, 0]
        ctc_scores[:, self.eos_token_ids] = (complete - prefix_score)[:, None]
        ctc_scores[:, self.never_emitted] = NEG_INF
        attention = torch.log_softmax(scores.float(), dim=-1)
        joint = (1.0 - self.ctc_weight) * attention + self.ctc_weight * ctc_scores.to(attention.dtype)
        return torch.where(torch.tensor(finished, device=scores.device)[:, None], scores, joint)

    def _state(self, key: tuple[int, tuple]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Forward variables `(length,)`, `(length,)` and prefix score `()` of one hypothesis (built token by token if
        unseen).
        """
        index, prefix = key
        if not prefix:
            blank = self.blank_log_probs[index].cumsum(dim=-1)
            return torch.full_like(blank, NEG_INF), blank, blank.new_zeros(())
        parent = (index, prefix[:-1])
        if parent not in self._extensions:
            non_blank, blank, _ = self._state(parent)
            device = blank.device
            last_token = torch.tensor(prefix[-2:-1], device=device) if len(prefix) > 1 else None
            extensions = self._extend(torch.tensor([index], device=device), non_blank[None], blank[None], last_token)
            self._extensions[parent] = tuple(part[0] for part in extensions)
        return tuple(part[prefix[-1]] for part in self._extensions[parent])

    def _extend(
        self, utterance: torch.Tensor, non_blank: torch.Tensor, blank: torch.Tensor, last_token: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        `(rows, vocab_size, length)` forward variables and `(rows, vocab_size)` prefix scores of every one-token
        extension of `R` prefixes.
        """
        new_non_blank, new_blank, entering = extend_prefixes(
            self.token_log_probs[utterance], self.blank_log_probs[utterance], non_blank, blank, last_token
        )
        padded = ~self.frame_mask[utterance][:, None, :]
        return new_non_blank, new_blank, torch.logsumexp(entering.masked_fill(padded, NEG_INF), dim=-1)
