"""
One SGD step of a tiny pre-training model sharded with FSDP2 as configs/accelerate_fsdp.yaml wraps it (each layer class
it names, then the model), on 2 CPU processes (gloo), each on half a batch; rank 0 writes the full weights after it and
those of the same step unsharded in one process (the mean of the two halves' losses) to the folder given.
Run by tests/test_fsdp.py: python -m torch.distributed.run --nproc_per_node 2 tests/fsdp_step.py OUTPUT
"""

import sys
from pathlib import Path

import torch
import torch.distributed as dist
import yaml
from safetensors.torch import save_file
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import fully_shard

from modeling_mmembed import MMEmbedConfig, MMEmbedForPreTraining

REPO = Path(__file__).resolve().parents[1]


def half_batch(index: int) -> dict:
    generator = torch.Generator().manual_seed(index)
    return {
        "input_features": torch.randn(2, 60, 80, generator=generator),
        "attention_mask": torch.tensor([[1] * 60, [1] * 45 + [0] * 15]),
        "labels": torch.randint(3, 30, (2, 7), generator=generator),
        "speaker_labels": torch.tensor([index, 3 - index]),
    }


def new_model() -> MMEmbedForPreTraining:
    """In eval mode: no dropout, so both runs compute the same function (gradients are computed all the same)."""
    torch.manual_seed(0)
    return MMEmbedForPreTraining(MMEmbedConfig.from_preset("tiny", num_speakers=4)).eval()


def main(output: Path) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    config = yaml.safe_load((REPO / "configs" / "accelerate_fsdp.yaml").read_text())["fsdp_config"]
    wrapped = set(config["fsdp_transformer_layer_cls_to_wrap"].split(","))
    model = new_model()
    found = {type(module).__name__ for module in model.modules()}
    assert wrapped <= found, f"the FSDP config names layers the model does not have: {sorted(wrapped - found)}"
    for module in model.modules():
        if type(module).__name__ in wrapped:
            fully_shard(module)
    fully_shard(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(**half_batch(rank)).loss.backward()  # FSDP averages the gradients over the processes
    optimizer.step()
    sharded = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if rank == 0:
        reference = new_model()
        optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
        ((reference(**half_batch(0)).loss + reference(**half_batch(1)).loss) / 2).backward()
        optimizer.step()
        save_file({name: value.clone() for name, value in sharded.items()}, str(output / "fsdp.safetensors"))
        save_file(
            {name: value.detach().clone() for name, value in reference.state_dict().items()},
            str(output / "one_process.safetensors"),
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
