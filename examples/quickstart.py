"""
End-to-end tour of the model package on built-in random data: build from a preset, forward with all modalities and
with audio only, one training step, save, and reload with `AutoModel` / `AutoModelForAudioClassification`.

    python examples/quickstart.py [--preset tiny] [--output-dir outputs/quickstart]
"""

import argparse

import torch
from transformers import AutoModel, AutoModelForAudioClassification

from modeling_mmembed import MMEmbedConfig, MMEmbedForEmotionRecognition


def random_batch(config: MMEmbedConfig, generator: torch.Generator) -> dict:
    """Two samples: 3.1 s and 1.7 s of 100 Hz audio, 30 Hz video, a few word vectors; the second has no video."""
    audio_lengths, visual_lengths, text_lengths = [310, 170], [93, 51], [8, 5]
    batch = {
        "input_features": torch.randn(2, max(audio_lengths), config.audio_feature_size, generator=generator),
        "visual_features": torch.randn(2, max(visual_lengths), config.visual_feature_size, generator=generator),
        "text_features": torch.randn(2, max(text_lengths), config.text_feature_size, generator=generator),
    }
    for mask_name, lengths in (
        ("attention_mask", audio_lengths),
        ("visual_attention_mask", visual_lengths),
        ("text_attention_mask", text_lengths),
    ):
        batch[mask_name] = (torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]).long()
    batch["visual_attention_mask"][1] = 0
    return batch


def rounded(output, index: int) -> list[float]:
    """The branch weights sample `index` received, rounded for printing."""
    return [round(weight, 3) for weight in output.modality_weights[index].tolist()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", choices=["tiny", "base", "mosei_sdk"])
    parser.add_argument("--output-dir", default="outputs/quickstart")
    args = parser.parse_args()

    torch.manual_seed(0)
    config = MMEmbedConfig.from_preset(args.preset)
    model = MMEmbedForEmotionRecognition(config)
    print(f"{args.preset}: {sum(p.numel() for p in model.parameters()):,} parameters, labels {config.id2label}")

    batch = random_batch(config, torch.Generator().manual_seed(0))
    labels = torch.tensor([[1.0, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 0]])
    output = model(**batch, labels=labels)
    output.loss.backward()
    torch.optim.AdamW(model.parameters(), lr=1e-3).step()
    print(f"all modalities: logits {tuple(output.logits.shape)}, loss {output.loss.item():.4f}")

    model.eval()
    with torch.no_grad():
        audio_only = model.mmembed(input_features=batch["input_features"], attention_mask=batch["attention_mask"])
        fused = model.mmembed(**batch)
    print(f"audio only: embedding {tuple(audio_only.pooler_output.shape)}, branch weights {rounded(audio_only, 0)}")
    print(f"sample without video: branch weights {rounded(fused, 1)} (audio, visual, text)")

    model.save_pretrained(args.output_dir)
    encoder = AutoModel.from_pretrained(args.output_dir).eval()
    head = AutoModelForAudioClassification.from_pretrained(args.output_dir).eval()
    with torch.no_grad():
        same_embedding = torch.equal(encoder(**batch).pooler_output, fused.pooler_output)
        same_logits = torch.equal(head(**batch).logits, model(**batch).logits)
    print(f"saved to {args.output_dir}; reloaded {type(encoder).__name__} and {type(head).__name__}")
    if not (same_embedding and same_logits):
        raise SystemExit("reloaded model does not reproduce the saved one")
    print("reloaded outputs are identical")


if __name__ == "__main__":
    main()
