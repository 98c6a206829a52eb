"""LoRA adapters (peft) on every linear layer, and the merged standalone checkpoint."""
from __future__ import annotations

from typing import Dict, Optional

import torch


def add_lora(encoder: torch.nn.Module, rank: int, alpha: Optional[float] = None) -> None:
    """Inject LoRA adapters of ``rank`` into every linear layer of ``encoder`` in place (peft);
    only the adapters (and nothing else) then require gradients."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as err:
        raise ImportError("LoRA training needs peft: pip install peft") from err
    linear = sorted({name.rsplit(".", 1)[-1] for name, m in encoder.named_modules()
                     if isinstance(m, torch.nn.Linear) and "pooler" not in name})
    config = LoraConfig(r=rank, lora_alpha=alpha or 2 * rank, lora_dropout=0.0, target_modules=linear)
    inject_adapter_in_model(config, encoder)
    for name, param in encoder.named_parameters():
        param.requires_grad_("lora_" in name)


def merged_lora_state(encoder: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The encoder's weights with its LoRA adapters folded in (``W + B A``), under the plain
    encoder's names (no ``lora_`` tensors): a standalone checkpoint. The module is not modified
    (merging in place and back would round the base weights a little at every save)."""
    from peft.tuners.lora import LoraLayer

    state = {}
    with torch.no_grad():
        for name, value in encoder.state_dict().items():
            if "lora_" not in name:
                state[name.replace(".base_layer.", ".")] = value
        for prefix, layer in encoder.named_modules():
            if isinstance(layer, LoraLayer):
                key = f"{prefix}.weight"
                for adapter in layer.active_adapters:
                    state[key] = state[key] + layer.get_delta_weight(adapter).to(state[key].dtype)
    return state
