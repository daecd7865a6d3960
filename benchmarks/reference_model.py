"""
Figure 2: MMEmbed against a reference built from plain PyTorch blocks, same sizes, masks and batches.

    python -m benchmarks.reference_model [--smoke] [--repeats 7] [--device cpu]

The reference is what a PyTorch user would write for the same method: the same strided-convolution subsampler and
sinusoidal positions, `nn.TransformerEncoder` (pre-norm `nn.TransformerEncoderLayer`, nested tensors and the fused
inference fast path enabled) for the audio stream, `nn.MultiheadAttention` cross-modal layers for visual and text,
`nn.TransformerDecoderLayer` for the ASR decoder, the same heads and losses. Parameter counts must match exactly.
Both models are timed in the same process, interleaved (ours, reference, ours, ...), median of `--repeats`:
a training step (forward, backward, AdamW step) and inference (`torch.inference_mode`, eval mode), for the
`mosei_sdk` emotion model on CMU-MOSEI-like batches and the `base` pre-training model on fbank batches, in fp32 and
under bf16 autocast (both models alike; the reference takes the config's residual and attention dropout).
Targets: ours / reference throughput >= 1.0 for training and inference, in both precisions.
"""

import math

import numpy as np
import torch
from torch import nn

from benchmarks.common import (
    arguments,
    emit,
    fbank_batch,
    interleaved,
    mosei_batch,
    peak_memory_mb,
    typical_batches,
)
from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition, MMEmbedForPreTraining
from modeling_mmembed.modeling_mmembed import MMEmbedAudioSubsampler, sinusoidal_positions


def with_positions(hidden_states: torch.Tensor) -> torch.Tensor:
    return hidden_states + sinusoidal_positions(hidden_states.shape[1], hidden_states.shape[2], hidden_states.device)


def pre_norm_layer(layer_class: type[nn.Module], config: MMEmbedConfig) -> nn.Module:
    """
    A PyTorch transformer layer (`nn.TransformerEncoderLayer`/`DecoderLayer`) of the config's sizes, pre-norm, with
    the config's residual dropout and attention dropout.
    """
    layer = layer_class(
        config.hidden_size,
        config.num_attention_heads,
        config.intermediate_size,
        dropout=config.hidden_dropout,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    for attention in (getattr(layer, "self_attn", None), getattr(layer, "multihead_attn", None)):
        if attention is not None:
            attention.dropout = config.attention_dropout
    return layer


class ReferenceCrossModalLayer(nn.Module):
    """`x + MHA(LN(x), LN(source))`, then a pre-norm feed-forward block."""

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        size = config.hidden_size
        self.query_norm, self.source_norm, self.ffn_norm = (nn.LayerNorm(size) for _ in range(3))
        self.attention = nn.MultiheadAttention(
            size, config.num_attention_heads, dropout=config.attention_dropout, batch_first=True
        )
        self.ffn = nn.Sequential(
            nn.Linear(size, config.intermediate_size), nn.GELU(), nn.Linear(config.intermediate_size, size)
        )

    def forward(self, states, source, source_padding):
        attended, _ = self.attention(
            self.query_norm(states),
            *(self.source_norm(source),) * 2,
            key_padding_mask=source_padding,
            need_weights=False,
        )
        states = states + attended
        return states + self.ffn(self.ffn_norm(states))


class ReferenceEncoder(nn.Module):
    """Audio self-attention (`nn.TransformerEncoder`) plus one cross-modal stack per source; weighted sum."""

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        size = config.hidden_size
        self.config = config
        self.subsampler = MMEmbedAudioSubsampler(config)
        layer = pre_norm_layer(nn.TransformerEncoderLayer, config)
        self.audio = nn.TransformerEncoder(
            layer, config.num_audio_layers, norm=nn.LayerNorm(size), enable_nested_tensor=True
        )
        self.source_inputs = nn.ModuleDict()
        self.cross = nn.ModuleDict()
        self.cross_norms = nn.ModuleDict()
        self.source_norms = nn.ModuleDict()
        if config.source_kernel_size != 1:
            raise ValueError("the reference has no source convolution: use a preset with source_kernel_size=1")
        for modality in config.source_modalities:
            if modality == "text" and config.text_uses_token_ids:
                self.source_inputs[modality] = nn.Embedding(config.text_vocab_size, size)
            else:
                width = config.visual_feature_size if modality == "visual" else config.text_feature_size
                self.source_inputs[modality] = nn.Linear(width, size)
            self.cross[modality] = nn.ModuleList(
                ReferenceCrossModalLayer(config) for _ in range(config.num_cross_modal_layers)
            )
            self.cross_norms[modality] = nn.LayerNorm(size)
            self.source_norms[modality] = nn.LayerNorm(size)

    def forward(self, batch: dict, modalities) -> tuple[torch.Tensor, torch.Tensor, dict]:
        states, mask = self.subsampler(batch["input_features"], batch["attention_mask"])
        audio = self.audio(with_positions(states), src_key_padding_mask=~mask)
        if audio.is_nested:
            audio = audio.to_padded_tensor(0.0, states.shape)
        branches = {"audio": audio}
        for modality in modalities:
            key = "visual_features" if modality == "visual" else "text_features"
            source = with_positions(self.source_norms[modality](self.source_inputs[modality](batch[key])))
            fused = audio
            for layer in self.cross[modality]:
                fused = layer(fused, source, ~batch[f"{modality}_attention_mask"])
            branches[modality] = self.cross_norms[modality](fused)
        weights = self.config.modality_weights
        total = sum(weights[name] for name in branches)
        fused = sum(weights[name] / total * branch for name, branch in branches.items()) * mask[..., None]
        return fused, mask, branches


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return states.sum(1) / mask.sum(1, keepdim=True)


class ReferenceEmotionModel(nn.Module):
    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        size = config.hidden_size
        self.encoder = ReferenceEncoder(config)
        self.head = nn.Sequential(
            nn.Dropout(0.1), nn.Linear(size, size), nn.GELU(), nn.Dropout(0.1), nn.Linear(size, config.num_labels)
        )

    def forward(self, batch: dict) -> torch.Tensor:
        fused, mask, _ = self.encoder(batch, ("visual", "text"))
        logits = self.head(masked_mean(fused, mask))
        return nn.functional.binary_cross_entropy_with_logits(logits, batch["labels"]) if self.training else logits


class ReferencePreTrainingModel(nn.Module):
    """Encoder on audio + video, `nn.TransformerDecoder` over the audio+visual memory, speaker head; 0.8 / 0.2."""

    def __init__(self, config: MMEmbedConfig):
        super().__init__()
        self.encoder = ReferenceEncoder(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=0)
        self.embed_scale = math.sqrt(config.hidden_size)
        self.decoder = nn.TransformerDecoder(
            pre_norm_layer(nn.TransformerDecoderLayer, config),
            config.decoder_layers,
            norm=nn.LayerNorm(config.hidden_size),
        )
        self.speaker_head = nn.Linear(config.hidden_size, config.num_speakers)
        self.modality_weights = config.modality_weights

    def forward(self, batch: dict) -> torch.Tensor:
        fused, mask, branches = self.encoder(batch, ("visual",))
        weights = self.modality_weights
        memory = (weights["audio"] * branches["audio"] + weights["visual"] * branches["visual"]) / (
            weights["audio"] + weights["visual"]
        )
        labels = batch["labels"]
        inputs = torch.cat([torch.ones_like(labels[:, :1]), labels[:, :-1].clamp(min=0)], dim=1)
        hidden = with_positions(self.embed(inputs) * self.embed_scale)
        causal = nn.Transformer.generate_square_subsequent_mask(
            inputs.shape[1], device=inputs.device, dtype=torch.bool
        )
        decoded = self.decoder(hidden, memory, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=~mask)
        logits = decoded @ self.embed.weight.T
        asr = nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100)
        speaker = nn.functional.cross_entropy(self.speaker_head(masked_mean(fused, mask)), batch["speaker_labels"])
        return 0.8 * asr + 0.2 * speaker


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def training_step(optimizer, forward) -> callable:
    """One step: zero the gradients, back-propagate `forward()`'s loss, update."""

    def step():
        optimizer.zero_grad(set_to_none=True)
        forward().backward()
        optimizer.step()

    return step


def under(dtype: torch.dtype | None, device: str, call):
    """`call` run under `dtype` autocast (None: plain fp32)."""

    def run():
        with torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            return call()

    return run


def compare(
    name: str, ours: nn.Module, reference: nn.Module, batches: list[dict], repeats: int, device: str, dtype
) -> dict:
    """Interleaved training-step and inference timings of both models over `batches` (one pass = all batches)."""
    our_optimizer = torch.optim.AdamW(ours.parameters(), lr=1e-4)
    reference_optimizer = torch.optim.AdamW(reference.parameters(), lr=1e-4)
    our_steps = [training_step(our_optimizer, lambda b=b: ours(**b).loss) for b in batches]
    reference_steps = [training_step(reference_optimizer, lambda b=b: reference(b)) for b in batches]

    def run_all(calls):
        return under(dtype, device, lambda: [call() for call in calls])

    ours.train(), reference.train()
    train = interleaved({"ours": run_all(our_steps), "reference": run_all(reference_steps)}, repeats, device)
    ours.eval(), reference.eval()
    inference_inputs = [
        {key: value for key, value in batch.items() if key not in ("labels", "speaker_labels")} for batch in batches
    ]

    def infer(model_call):
        def call():
            with torch.inference_mode():
                model_call()

        return call

    if isinstance(ours, MMEmbedForPreTraining):
        our_inference = [lambda b=b: ours.get_encoder()(**b) for b in inference_inputs]
        reference_inference = [lambda b=b: reference.encoder(b, ("visual",)) for b in batches]
    else:
        our_inference = [lambda b=b: ours(**b) for b in inference_inputs]
        reference_inference = [lambda b=b: reference(b) for b in batches]
    inference = interleaved(
        {"ours": infer(run_all(our_inference)), "reference": infer(run_all(reference_inference))}, repeats, device
    )
    samples = sum(len(batch["labels"]) for batch in batches)
    result = {"model": name, "samples_per_pass": samples}
    for mode, timings in (("training", train), ("inference", inference)):
        ours_s, reference_s = float(np.median(timings["ours"])), float(np.median(timings["reference"]))
        result[mode] = {
            "ours_samples_per_s": samples / ours_s,
            "reference_samples_per_s": samples / reference_s,
            "ratio": reference_s / ours_s,
        }
    return result


def main() -> dict:
    args = arguments(__doc__, repeats=(int, 5, "interleaved repeats (median)"), batch_size=(int, 16, "batch size"))
    device = args.device
    torch.manual_seed(0)
    smoke = args.smoke
    batch_size, repeats = (4, 2) if smoke else (args.batch_size, args.repeats)
    durations = typical_batches(batch_size, 2, max_seconds=8.0 if smoke else 30.0, seed=1)
    preset = "tiny" if smoke else None
    results = []
    precisions = {"fp32": None, "bf16": torch.bfloat16}
    emotion_config = MMEmbedConfig.from_preset(preset or "mosei_sdk", **({"text_feature_size": 300} if smoke else {}))
    pretrain_config = MMEmbedConfig.from_preset(preset or "base", num_speakers=100)
    for name, config, model_class, reference_class, make_batch in (
        (
            "mosei_sdk emotion" if not smoke else "tiny emotion",
            emotion_config,
            MMEmbedForEmotionRecognition,
            ReferenceEmotionModel,
            mosei_batch,
        ),
        (
            "base pre-training" if not smoke else "tiny pre-training",
            pretrain_config,
            MMEmbedForPreTraining,
            ReferencePreTrainingModel,
            fbank_batch,
        ),
    ):
        ours, reference = model_class(config).to(device), reference_class(config).to(device)
        if parameter_count(ours) != parameter_count(reference):
            raise AssertionError(
                f"{name}: {parameter_count(ours)} parameters vs {parameter_count(reference)} in the reference"
            )
        batches = [make_batch(config, seconds, device, seed=index) for index, seconds in enumerate(durations)]
        for precision, dtype in precisions.items():
            compared = compare(name, ours, reference, batches, repeats, device, dtype)
            results.append({**compared, "precision": precision, "parameters": parameter_count(ours)})
    rows = [
        [
            r["model"],
            r["precision"],
            mode,
            f"{r[mode]['ours_samples_per_s']:.1f}",
            f"{r[mode]['reference_samples_per_s']:.1f}",
            f"{r[mode]['ratio']:.2f}",
            target,
        ]
        for r in results
        for mode, target in (("training", ">= 1.0"), ("inference", ">= 1.0"))
    ]
    targets = {
        "training_ratio_at_least_1.0": all(r["training"]["ratio"] >= 1.0 for r in results),
        "inference_ratio_at_least_1.0": all(r["inference"]["ratio"] >= 1.0 for r in results),
    }
    record = {
        "batch_size": batch_size,
        "repeats": repeats,
        "results": results,
        "targets": targets,
        **peak_memory_mb(device),
    }
    return emit(
        "figure 2: ours vs plain PyTorch",
        record,
        rows,
        ["model", "precision", "mode", "ours samples/s", "reference samples/s", "ratio", "target"],
        args,
    )


if __name__ == "__main__":
    main()
