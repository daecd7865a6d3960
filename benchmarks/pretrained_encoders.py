"""
Figure 14: MMEmbed with base-sized pretrained encoders (WavLM base and BERT base shapes, random weights: no download):
parameters, training step time and peak memory per freezing choice, and batch-1 latency.

    python -m benchmarks.pretrained_encoders [--smoke] [--batch-size 4] [--seconds 8]

Each variant runs in its own process (its peak RSS is its own): the `paper` preset over a WavLM base-shaped speech
encoder (12 layers, 768 wide, the 7-layer convolutional feature encoder) and a BERT base-shaped text encoder (12
layers, 768 wide, 30,522 tokens), `audio_subsampling=2`; a batch of `--batch-size` clips of `--seconds` s with 24
word-piece tokens and 30 visual frames per second; AdamW; fp32. Variants: the speech encoder's feature encoder frozen
(the usual fine-tuning choice), the same with gradient checkpointing, both encoders frozen (only their layer weights
and MMEmbed train), nothing frozen. Batch-1 latency: one 10 s clip through the emotion model in inference mode.
"""

import time

from benchmarks.common import arguments, emit, measured_in_own_process, peak_memory_mb, print_measured

VARIANTS = {
    "feature encoder frozen": {"freeze_audio_encoder": "feature_encoder"},
    "feature encoder frozen, checkpointing": {"freeze_audio_encoder": "feature_encoder", "checkpointing": True},
    "both encoders frozen": {"freeze_audio_encoder": "all", "freeze_text_encoder": True},
    "nothing frozen": {"freeze_audio_encoder": "none"},
}


def encoder_configs(smoke: bool) -> tuple[dict, dict]:
    from transformers import BertConfig, WavLMConfig

    if smoke:
        small = {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}
        speech = WavLMConfig(**small, conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8),
                             num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)  # fmt: skip
        return speech.to_dict(), BertConfig(**small, vocab_size=99).to_dict()
    return WavLMConfig().to_dict(), BertConfig().to_dict()  # the base models' shapes


def measure_variant(name: str, smoke: bool, batch_size: int, seconds: float, steps: int) -> dict:
    import torch

    from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition

    settings = dict(VARIANTS[name])
    checkpointing = settings.pop("checkpointing", False)
    speech, text = encoder_configs(smoke)
    config = MMEmbedConfig.from_preset("tiny" if smoke else "paper", audio_encoder=speech, text_encoder=text,
                                       audio_subsampling=2, **settings)  # fmt: skip
    torch.manual_seed(0)
    model = MMEmbedForEmotionRecognition(config)
    if checkpointing:
        model.gradient_checkpointing_enable()
    parameters = {
        "speech_encoder": sum(p.numel() for p in model.mmembed.audio_encoder.model.parameters()),
        "text_encoder": sum(p.numel() for p in model.mmembed.text_encoder.model.parameters()),
        "total": sum(p.numel() for p in model.parameters()),
        "trained": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    generator = torch.Generator().manual_seed(0)
    samples = int(seconds * 16000)
    batch = {
        "input_values": torch.randn(batch_size, samples, generator=generator),
        "text_input_ids": torch.randint(5, config.text_encoder["vocab_size"], (batch_size, 24), generator=generator),
        "visual_features": torch.randn(batch_size, int(seconds * 30), 35, generator=generator),
        "labels": (torch.rand(batch_size, 6, generator=generator) > 0.7).float(),
    }
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    timings = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        timings.append(time.perf_counter() - start)
    model.eval()
    clip = {"input_values": torch.randn(1, 16000 * (2 if smoke else 10), generator=generator)}
    with torch.inference_mode():
        model(**clip)
        start = time.perf_counter()
        for _ in range(3):
            model(**clip)
        latency = (time.perf_counter() - start) / 3
    return {
        "parameters": parameters,
        "step_s": sorted(timings[1:])[len(timings[1:]) // 2],
        "batch1_latency_s": latency,
        **peak_memory_mb("cpu"),
    }


def main() -> dict:
    args = arguments(
        __doc__,
        batch_size=(int, 4, "clips per training batch"),
        seconds=(float, 8.0, "seconds per clip"),
        variant=(str, None, "internal: measure one variant in this process and print its JSON"),
    )
    batch_size, seconds, steps = (2, 1.0, 1) if args.smoke else (args.batch_size, args.seconds, 3)
    if args.variant:
        return print_measured(measure_variant(args.variant, args.smoke, batch_size, seconds, steps))
    results = {}
    for name in VARIANTS:
        sizes = ["--smoke"] if args.smoke else ["--batch-size", str(batch_size), "--seconds", str(seconds)]
        results[name] = measured_in_own_process(
            "pretrained_encoders", ["--variant", name, *sizes], {"HF_HUB_OFFLINE": "1"}
        )
    rows = [
        [name, f"{r['parameters']['total'] / 1e6:.1f} M", f"{r['parameters']['trained'] / 1e6:.1f} M",
         f"{r['step_s']:.2f}", f"{r['peak_rss_mb']:.0f}", f"{r['batch1_latency_s'] * 1000:.0f}"]
        for name, r in results.items()
    ]  # fmt: skip
    header = ["variant", "parameters", "trained", "step s", "peak RSS MB", "batch-1 10 s clip ms"]
    record = {"batch_size": batch_size, "seconds": seconds, "results": results}
    return emit("pretrained_encoders", record, rows, header, args)


if __name__ == "__main__":
    main()
