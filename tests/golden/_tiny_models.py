"""Tiny random checkpoints of the real architectures, shared by gen_checkpoints.py and
make_demo_checkpoint.py.

Base models are the transformers 4.57.1 classes (Qwen3VLForConditionalGeneration,
LlavaForConditionalGeneration, Qwen3ForCausalLM) written with save_pretrained, so names, layouts
and config spellings are whatever HF writes. Retention gates come from the trimkv 0.1.5 model
classes themselves: their state_dict gives the exact tensor names and shapes, and torch.save of
the gate subset is how trimkv's training scripts write trimkv_weights.pth.
"""
import json
import shutil
import sys
import types
from pathlib import Path

import torch
from transformers import (LlavaConfig, LlavaForConditionalGeneration, Qwen3Config, Qwen3ForCausalLM,
                          Qwen3VLConfig, Qwen3VLForConditionalGeneration)

GATE_PARAMS = "self_attn.retention_gate"

# Qwen3-VL text sizes shaped like the 4B (GQA, explicit head_dim != hidden/heads, interleaved
# M-RoPE, tied embeddings), shrunk. The vocabulary is the real one so the real tokenizer fits.
QWEN3VL_TEXT = dict(
    vocab_size=151936, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
    num_key_value_heads=2, head_dim=16, hidden_act="silu", rms_norm_eps=1e-6, max_position_embeddings=4096,
    rope_theta=5000000.0, rope_scaling={"rope_type": "default", "mrope_section": [4, 2, 2], "mrope_interleaved": True},
    tie_word_embeddings=True)
QWEN3VL_VISION = dict(
    depth=2, hidden_size=32, intermediate_size=64, num_heads=2, hidden_act="gelu_pytorch_tanh", in_channels=3,
    patch_size=16, temporal_patch_size=2, spatial_merge_size=2, num_position_embeddings=16, out_hidden_size=32,
    deepstack_visual_indexes=[0, 1])
# Vision towers for encoder parity (gen_qwen3vl_vision.py): one with the 4B's head_dim 64 (hidden /
# heads) on the real 48 x 48 position table; one odd wherever a reimplementation could go wrong:
# head_dim 12, patch 8, a 5 x 5 table, 3 blocks with DeepStack after blocks 0 and 2.
QWEN3VL_VISION_HEAD64 = dict(
    QWEN3VL_VISION, depth=2, hidden_size=128, intermediate_size=192, num_heads=2, num_position_embeddings=2304,
    deepstack_visual_indexes=[0, 1])
QWEN3VL_VISION_ODD = dict(
    QWEN3VL_VISION, depth=3, hidden_size=48, intermediate_size=80, num_heads=4, patch_size=8,
    num_position_embeddings=25, deepstack_visual_indexes=[0, 2])
# Their text tower: out_hidden_size (32) must equal its hidden size; a toy vocabulary (and token ids
# inside it) keeps a saved vision reference small.
QWEN3VL_TEXT_TOY_VOCAB = dict(QWEN3VL_TEXT, vocab_size=256)
QWEN3VL_TOY_TOKENS = dict(image_token_id=250, video_token_id=251, vision_start_token_id=248, vision_end_token_id=249)

# Text-decoder parity models (gen_qwen3vl_text.py), fp32. Each stresses what the 4B-shaped one
# above does not: "gqa4" has the 4B's head_dim 128 and GQA 4:1 on a hidden size that is not
# heads x head_dim, three DeepStack levels on four layers, tied embeddings; "odd" has head_dim 64,
# GQA 3:1, sizes that divide nothing, another rope_theta and eps, DeepStack taps at vision blocks
# [0, 2] (two levels, not evenly spaced) and an untied lm_head. Special-token ids are moved into
# the small vocabularies so get_rope_index can lay out an image. Weights are drawn 5x wider than HF's
# default (initializer_range 0.1): at 0.02 a tied tiny model greedily repeats one token, which would
# make the greedy comparison weak.
QWEN3VL_PARITY = {
    "gqa4": dict(
        text=dict(vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=8,
                  num_key_value_heads=2, head_dim=128, hidden_act="silu", rms_norm_eps=1e-6,
                  max_position_embeddings=4096, rope_theta=5000000.0, tie_word_embeddings=True, initializer_range=0.1,
                  rope_scaling={"rope_type": "default", "mrope_section": [24, 20, 20], "mrope_interleaved": True}),
        vision=dict(depth=3, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                    deepstack_visual_indexes=[0, 1, 2]),
        tokens=dict(image_token_id=1000, video_token_id=1001, vision_start_token_id=1002, vision_end_token_id=1003)),
    "odd": dict(
        text=dict(vocab_size=1001, hidden_size=72, intermediate_size=200, num_hidden_layers=3, num_attention_heads=6,
                  num_key_value_heads=2, head_dim=64, hidden_act="silu", rms_norm_eps=1e-5,
                  max_position_embeddings=2048, rope_theta=1000000.0, tie_word_embeddings=False, initializer_range=0.1,
                  rope_scaling={"rope_type": "default", "mrope_section": [12, 10, 10], "mrope_interleaved": True}),
        vision=dict(depth=3, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=72,
                    deepstack_visual_indexes=[0, 2]),
        tokens=dict(image_token_id=990, video_token_id=991, vision_start_token_id=992, vision_end_token_id=993)),
}

# LLaVA-1.5 shaped (Llama text, CLIP vision, layer -2 features, GELU projector), shrunk; a toy
# vocabulary, so this one ships without tokenizer files.
LLAVA_TEXT = dict(
    model_type="llama", vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=10000.0)
LLAVA_VISION = dict(
    model_type="clip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
    image_size=28, patch_size=14, hidden_act="quick_gelu", layer_norm_eps=1e-5)
LLAVA_TOP = dict(image_token_index=250, image_seq_length=4, vision_feature_layer=-2,
                 vision_feature_select_strategy="default", projector_hidden_act="gelu", tie_word_embeddings=False)

# A Qwen3 LLM with the same text sizes as the tiny Qwen3-VL: its gates fit that VLM's shapes and
# differ only in their names, the case a shape check alone would miss.
QWEN3_LLM = dict(
    vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
    num_key_value_heads=2, head_dim=16, hidden_act="silu", rms_norm_eps=1e-6, max_position_embeddings=4096,
    rope_theta=1000000.0, tie_word_embeddings=True)

# The hub's Qwen3-VL processor settings (Qwen/Qwen3-VL-4B-Instruct), which the tiny model's
# patch/merge sizes match.
QWEN3VL_PREPROCESSOR = {
    "image_processor_type": "Qwen2VLImageProcessorFast", "processor_class": "Qwen3VLProcessor",
    "size": {"longest_edge": 16777216, "shortest_edge": 65536}, "patch_size": 16, "temporal_patch_size": 2,
    "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
QWEN3VL_VIDEO_PREPROCESSOR = {
    "video_processor_type": "Qwen3VLVideoProcessor", "processor_class": "Qwen3VLProcessor",
    "size": {"longest_edge": 25165824, "shortest_edge": 4096}, "patch_size": 16, "temporal_patch_size": 2,
    "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}

# A reduced Qwen3-VL chat format (no tools, no thinking): system/user/assistant turns whose content
# is a string or a list of image/video/text items.
QWEN3VL_CHAT_TEMPLATE = """\
{%- for message in messages -%}
<|im_start|>{{ message.role }}
{% if message.content is string -%}
{{ message.content }}
{%- else -%}
{%- for item in message.content -%}
{%- if item.type == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>
{%- elif item.type == 'video' -%}<|vision_start|><|video_pad|><|vision_end|>
{%- elif item.type == 'text' -%}{{ item.text }}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
<|im_end|>
{% endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% endif -%}
"""

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def qwen3vl_config(vision: dict = QWEN3VL_VISION, text: dict = QWEN3VL_TEXT, **top) -> Qwen3VLConfig:
    # 4.57 ties lm_head to the text config's flag; the top-level one is what the hub config also sets.
    return Qwen3VLConfig(text_config=dict(text), vision_config=dict(vision), tie_word_embeddings=True, **top)


def llava_config() -> LlavaConfig:
    return LlavaConfig(text_config=dict(LLAVA_TEXT), vision_config=dict(LLAVA_VISION), **LLAVA_TOP)


def qwen3_config() -> Qwen3Config:
    return Qwen3Config(**QWEN3_LLM)


def qwen3vl_parity_config(name: str) -> Qwen3VLConfig:
    spec = QWEN3VL_PARITY[name]
    return Qwen3VLConfig(text_config=dict(spec["text"]), vision_config=dict(spec["vision"]),
                         tie_word_embeddings=spec["text"]["tie_word_embeddings"], **spec["tokens"])


def perturb_norms(module, seed: int, scale: float = 0.2) -> None:
    """Moves every RMSNorm weight of `module` off HF's initial ones, so a norm whose weight is not
    applied (or applied as 1 + w) changes the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + scale * torch.randn(p.shape, generator=gen))


def random_model(cls, config, seed: int, dtype: torch.dtype):
    torch.manual_seed(seed)
    return cls(config).eval().to(dtype)


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")


def save_qwen3vl_snapshot(out: Path, tokenizer_dir: Path, seed: int, dtype=torch.bfloat16):
    """A complete Qwen3-VL snapshot: weights, configs, real tokenizer, processor configs, chat template."""
    model = random_model(Qwen3VLForConditionalGeneration, qwen3vl_config(), seed, dtype)
    model.save_pretrained(out)
    for name in TOKENIZER_FILES:
        shutil.copyfile(tokenizer_dir / name, out / name)
    write_json(out / "preprocessor_config.json", QWEN3VL_PREPROCESSOR)
    write_json(out / "video_preprocessor_config.json", QWEN3VL_VIDEO_PREPROCESSOR)
    (out / "chat_template.jinja").write_text(QWEN3VL_CHAT_TEMPLATE)
    return model


# ---- retention gates from the reference classes ------------------------------------------------

def _trimkv():
    """Imports trimkv 0.1.5, which imports flash_attn at module level although nothing here runs it
    (a CPU venv has no flash_attn). transformers must be imported first: it probes flash_attn's
    import spec, which a stub module lacks."""
    import transformers.modeling_utils  # noqa: F401
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        stub = types.ModuleType("flash_attn")
        stub.flash_attn_interface = types.ModuleType("flash_attn.flash_attn_interface")
        stub.flash_attn_interface.flash_attn_varlen_func = None
        stub.flash_attn_interface.flash_attn_with_kvcache = None
        sys.modules["flash_attn"] = stub
        sys.modules["flash_attn.flash_attn_interface"] = stub.flash_attn_interface
    import trimkv
    return trimkv


def trimkv_config(family: str, gate_type: str, base_model: str | None, **extra):
    """The config.json trimkv writes next to its gates: the base config plus the gate fields, which
    VLM configs keep in text_config and LLM configs at the top level."""
    trimkv = _trimkv()
    gate = dict(retention_gate=gate_type, retention_gate_intermediate_size=512, tie_retention_gate_layers=True)
    top = dict(trainable_params=GATE_PARAMS, memory_size=1024, **extra)
    if base_model is not None:
        top["base_model"] = base_model
    if family == "qwen3_vl":
        from trimkv.models.qwen3_vl.configuration_trimkv_qwen3_vl import TrimKVQwen3VLConfig
        return TrimKVQwen3VLConfig(text_config=dict(QWEN3VL_TEXT, **gate), vision_config=dict(QWEN3VL_VISION),
                                   tie_word_embeddings=True, **top)
    if family == "llava":
        from trimkv.models.llava.configuration_trimkv_llava import TrimKVLlavaConfig
        return TrimKVLlavaConfig(text_config=dict(LLAVA_TEXT, **gate), vision_config=dict(LLAVA_VISION),
                                 **LLAVA_TOP, **top)
    if family == "qwen3":
        return trimkv.TrimKVQwen3Config(**QWEN3_LLM, **gate, **top)
    raise ValueError(family)


def trimkv_model(config):
    trimkv = _trimkv()
    if config.model_type == "qwen3_vl":
        from trimkv.models.qwen3_vl.modeling_trimkv_qwen3_vl import TrimKVQwen3VLForConditionalGeneration as cls
    elif config.model_type == "llava":
        from trimkv.models.llava.modeling_trimkv_llava import TrimKVLlavaForConditionalGeneration as cls
    else:
        cls = trimkv.TrimKVQwen3ForCausalLM
    return cls(config).eval()


def gate_state(model) -> dict:
    """The gate subset of the model's state_dict, as trimkv's training writes it (tied rg10 tensors
    repeat under every layer)."""
    return {k: v for k, v in model.state_dict().items() if GATE_PARAMS in k}


def random_gates(config, seed: int, dtype=torch.bfloat16):
    """A trimkv model whose gates hold random values of trained-like magnitude (weights ~0.02, biases
    ~8-18, as in trimkv's configs) in `dtype`; returns (model, gate state)."""
    model = trimkv_model(config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if GATE_PARAMS in name:
                if name.endswith("retention_gate.bias"):
                    p.copy_(8 + 10 * torch.rand(p.shape, generator=gen))
                else:
                    p.copy_(0.02 * torch.randn(p.shape, generator=gen))
    model.to(dtype)
    return model, gate_state(model)


def effective_gates(config, state: dict) -> dict:
    """What the reference runs after loading `state`: trimkv's own load path (a strict key-set check,
    then load_state_dict, whose repeated tied keys overwrite one another in layer order)."""
    model = trimkv_model(config).to(next(iter(state.values())).dtype)
    expected = set(gate_state(model))
    if expected != set(state):
        raise ValueError(f"gate keys differ from the reference model's: {sorted(expected ^ set(state))[:4]}")
    model.load_state_dict(state, strict=False)
    return {k: v.clone() for k, v in gate_state(model).items()}


def save_gates(path: Path, state: dict, location: str | None = None) -> None:
    """torch.save, as trimkv's training writes the file. `location` records another device for
    every storage (trimkv trains on GPUs, so real files name cuda:0), without needing that device."""
    if location is None:
        torch.save(state, path)
        return
    import torch.serialization as serialization
    tag = serialization.location_tag
    serialization.location_tag = lambda storage: location
    try:
        torch.save(state, path)
    finally:
        serialization.location_tag = tag
