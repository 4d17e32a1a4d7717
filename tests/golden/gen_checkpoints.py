#!/usr/bin/env python3
"""Tiny checkpoints of the real architectures and what `trimvl info` must report about them.

Writes into --out:
  hub/models--trimvl-test--Qwen3-VL-Tiny/   a Qwen3-VL snapshot (bf16, tied embeddings, real Qwen3
                                            tokenizer, processor configs, chat template) in the
                                            Hugging Face cache layout (refs/main, blobs, snapshots)
  llava/       LLaVA (Llama + CLIP), fp16, sharded; no tokenizer files (a snapshot with gaps)
  qwen3/       a Qwen3 LLM, fp32, the tiny Qwen3-VL's text sizes
  configs/*/   config.json only: hub configs of the full-size models and near-empty ones, which
               exercise transformers' defaults
  gates/*/     trimkv gate directories (config.json with base_model + trimkv_weights.pth), made
               with the trimkv 0.1.5 model classes; base_model is a hub id or a relative path; one
               file's storages are tagged cuda:0, as files saved during GPU training are
  gates_expected/<name>.safetensors   the gate tensors the reference runs after loading each
               directory (trimkv's load path: key check + load_state_dict)
  bad/         gate files only Python writes: an OrderedDict, the legacy non-zip format
  expected.json  every fact, computed here from the HF config objects, the module tree and the
               safetensors library
"""
import argparse
import collections
import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import AutoConfig, LlavaForConditionalGeneration, Qwen3ForCausalLM

import _tiny_models as tiny

INPUTS = [
    "$TRIMVL_SHARED_DIR/assets/qwen3-tokenizer/tokenizer.json",
    "$TRIMVL_SHARED_DIR/assets/qwen3-tokenizer/tokenizer_config.json",
]

HUB_REPO = "trimvl-test/Qwen3-VL-Tiny"

# Hub configs of the full-size models: llava-hf/llava-1.5-7b-hf verbatim (its text_config leaves
# the Llama sizes to LlamaConfig's defaults) and Qwen/Qwen3-VL-4B-Instruct's values.
LLAVA15_HUB_CONFIG = {
    "architectures": ["LlavaForConditionalGeneration"], "ignore_index": -100, "image_token_index": 32000,
    "model_type": "llava", "pad_token_id": 32001, "projector_hidden_act": "gelu",
    "text_config": {"_name_or_path": "lmsys/vicuna-7b-v1.5", "architectures": ["LlamaForCausalLM"],
                    "max_position_embeddings": 4096, "model_type": "llama", "rms_norm_eps": 1e-05,
                    "torch_dtype": "float16", "vocab_size": 32064},
    "tie_word_embeddings": False, "torch_dtype": "float16", "transformers_version": "4.36.0.dev0",
    "vision_config": {"hidden_size": 1024, "image_size": 336, "intermediate_size": 4096,
                      "model_type": "clip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 24,
                      "patch_size": 14, "projection_dim": 768, "vocab_size": 32000},
    "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "vocab_size": 32064}
QWEN3VL_4B_HUB_CONFIG = {
    "architectures": ["Qwen3VLForConditionalGeneration"], "image_token_id": 151655, "model_type": "qwen3_vl",
    "text_config": {"attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 151643, "dtype": "bfloat16",
                    "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 2560,
                    "initializer_range": 0.02, "intermediate_size": 9728, "max_position_embeddings": 262144,
                    "model_type": "qwen3_vl_text", "num_attention_heads": 32, "num_hidden_layers": 36,
                    "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
                    "rope_scaling": {"mrope_interleaved": True, "mrope_section": [24, 20, 20], "rope_type": "default"},
                    "rope_theta": 5000000, "tie_word_embeddings": True, "use_cache": True, "vocab_size": 151936},
    "tie_word_embeddings": True, "transformers_version": "4.57.0.dev0", "video_token_id": 151656,
    "vision_config": {"deepstack_visual_indexes": [5, 11, 17], "depth": 24, "hidden_act": "gelu_pytorch_tanh",
                      "hidden_size": 1024, "in_channels": 3, "initializer_range": 0.02, "intermediate_size": 4096,
                      "model_type": "qwen3_vl", "num_heads": 16, "num_position_embeddings": 2304,
                      "out_hidden_size": 2560, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2},
    "vision_end_token_id": 151653, "vision_start_token_id": 151652}
CONFIG_ONLY = {
    "llava15-hub": LLAVA15_HUB_CONFIG,
    "qwen3vl-4b-hub": QWEN3VL_4B_HUB_CONFIG,
    "qwen3-defaults": {"model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"]},
    "llama-defaults": {"model_type": "llama", "num_attention_heads": 8, "num_key_value_heads": None},
}


# ---- facts, from HF's resolved config objects ---------------------------------------------------

def text_facts(tc) -> dict:
    rope = tc.rope_scaling or {}
    return {
        "model_type": tc.model_type, "hidden_size": tc.hidden_size, "num_hidden_layers": tc.num_hidden_layers,
        "num_attention_heads": tc.num_attention_heads, "num_key_value_heads": tc.num_key_value_heads,
        "head_dim": getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads,
        "intermediate_size": tc.intermediate_size, "vocab_size": tc.vocab_size, "hidden_act": tc.hidden_act,
        "rms_norm_eps": tc.rms_norm_eps, "rope_theta": float(tc.rope_theta), "rope_type": rope.get("rope_type", "default"),
        "max_position_embeddings": tc.max_position_embeddings, "tie_word_embeddings": tc.tie_word_embeddings,
        # 4.57 always interleaves Qwen3-VL's M-RoPE; [24, 20, 20] when rope_scaling omits the section.
        "mrope_section": rope.get("mrope_section", [24, 20, 20]) if tc.model_type == "qwen3_vl_text" else None,
    }


def vision_facts(vc) -> dict:
    if vc.model_type == "qwen3_vl":
        return {"model_type": vc.model_type, "hidden_size": vc.hidden_size, "num_layers": vc.depth,
                "num_heads": vc.num_heads, "intermediate_size": vc.intermediate_size, "hidden_act": vc.hidden_act,
                "patch_size": vc.patch_size, "in_channels": vc.in_channels,
                "temporal_patch_size": vc.temporal_patch_size, "spatial_merge_size": vc.spatial_merge_size,
                "out_hidden_size": vc.out_hidden_size, "num_position_embeddings": vc.num_position_embeddings,
                "deepstack_visual_indexes": list(vc.deepstack_visual_indexes)}
    return {"model_type": vc.model_type, "hidden_size": vc.hidden_size, "num_layers": vc.num_hidden_layers,
            "num_heads": vc.num_attention_heads, "intermediate_size": vc.intermediate_size,
            "hidden_act": vc.hidden_act, "patch_size": vc.patch_size, "in_channels": vc.num_channels,
            "image_size": vc.image_size, "layer_norm_eps": vc.layer_norm_eps}


def config_facts(config) -> dict:
    facts = {"model_type": config.model_type, "architecture": (config.architectures or [None])[0],
             "text": text_facts(config.get_text_config(decoder=True)), "vision": None, "multimodal": None}
    if config.model_type == "qwen3_vl":
        facts["vision"] = vision_facts(config.vision_config)
        facts["multimodal"] = {k: getattr(config, k) for k in
                               ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")}
    elif config.model_type == "llava":
        facts["vision"] = vision_facts(config.vision_config)
        facts["multimodal"] = {k: getattr(config, k) for k in
                               ("image_token_index", "image_seq_length", "vision_feature_layer",
                                "vision_feature_select_strategy", "projector_hidden_act", "multimodal_projector_bias")}
    return facts


def numel(module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_facts(model) -> dict:
    """Parameters by top-level module, from the module tree (tied weights counted once, at the
    embedding)."""
    tied = model.config.get_text_config(decoder=True).tie_word_embeddings
    groups = {"total": numel(model)}
    if model.config.model_type == "qwen3_vl":
        groups.update(vision=numel(model.model.visual), language=numel(model.model.language_model))
    elif model.config.model_type == "llava":
        groups.update(vision=numel(model.model.vision_tower), projector=numel(model.model.multi_modal_projector),
                      language=numel(model.model.language_model))
    else:
        groups.update(language=numel(model.model))
    groups["lm_head"] = 0 if tied else numel(model.lm_head)
    assert sum(v for k, v in groups.items() if k != "total") == groups["total"], groups
    return groups


SAFETENSORS_ITEMSIZE = {"BF16": 2, "F16": 2, "F32": 4}


def weight_facts(snapshot: Path, model) -> dict:
    files = sorted(p.name for p in snapshot.glob("*.safetensors"))
    dtypes, tensors, nbytes = collections.defaultdict(lambda: {"tensors": 0, "parameters": 0}), 0, 0
    for name in files:
        with safe_open(snapshot / name, "pt") as f:
            for key in f.keys():
                sl = f.get_slice(key)
                n = torch.Size(sl.get_shape()).numel()
                dtypes[sl.get_dtype()]["tensors"] += 1
                dtypes[sl.get_dtype()]["parameters"] += n
                tensors += 1
                nbytes += n * SAFETENSORS_ITEMSIZE[sl.get_dtype()]
    return {"files": files, "tensors": tensors, "bytes": nbytes, "dtypes": dict(dtypes),
            "parameters": parameter_facts(model)}


def gate_file_facts(path: Path, config) -> dict:
    state = torch.load(path, map_location="cpu")
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in state.values()}
    gate_type = config.get_text_config(decoder=True).retention_gate
    layers = sorted({int(k.split(".self_attn.")[0].rsplit(".", 1)[1]) for k in state})
    differ = []
    if gate_type == "rg10":
        last = layers[-1]
        for i in layers:
            for leaf in ("linear3.weight", "bias"):
                a, b = (next(v for k, v in state.items() if k.endswith(f".{j}.self_attn.retention_gate.{leaf}"))
                        for j in (i, last))
                if not torch.equal(a, b) and i not in differ:
                    differ.append(i)
    return {"type": gate_type, "layers": len(layers), "tensors": len(state), "bytes": sum(storages.values()),
            "dtype": "bf16", "intermediate_size": 512, "tied": gate_type == "rg10", "tied_copies_differ": differ,
            "retention_gate": gate_type, "base_model": config.base_model}


# ---- layouts ------------------------------------------------------------------------------------

def to_hub_cache(snapshot: Path, hub: Path, repo: str) -> Path:
    """Moves a snapshot into the Hugging Face cache layout: files as blobs named by their hash,
    snapshots/<commit>/ of relative symlinks to them, refs/main naming the commit."""
    repo_dir = hub / ("models--" + repo.replace("/", "--"))
    commit = hashlib.sha1(repo.encode()).hexdigest()
    (repo_dir / "blobs").mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    snap = repo_dir / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in sorted(snapshot.iterdir()):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        f.rename(repo_dir / "blobs" / digest)
        (snap / f.name).symlink_to(Path("..", "..", "blobs", digest))
    (repo_dir / "refs" / "main").write_text(commit)
    snapshot.rmdir()
    return snap


def write_gate_dir(out: Path, name: str, config, state: dict, expected: dict, location: str | None = None) -> None:
    d = out / "gates" / name
    d.mkdir(parents=True)
    config.save_pretrained(d)
    tiny.save_gates(d / "trimkv_weights.pth", state, location)
    effective = tiny.effective_gates(config, state)
    save_file(effective, out / "gates_expected" / f"{name}.safetensors")
    expected["gates"][name] = gate_file_facts(d / "trimkv_weights.pth", config)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    out = ap.parse_args().out
    tokenizer_dir = Path(os.environ["TRIMVL_SHARED_DIR"]) / "assets" / "qwen3-tokenizer"
    expected = {"hub_repo": HUB_REPO, "models": {}, "gates": {}}

    # Base models.
    staging = out / "qwen3vl-staging"
    qwen3vl = tiny.save_qwen3vl_snapshot(staging, tokenizer_dir, seed=1)
    facts = dict(config_facts(qwen3vl.config), weights=weight_facts(staging, qwen3vl))
    snap = to_hub_cache(staging, out / "hub", HUB_REPO)
    expected["models"]["qwen3vl"] = dict(facts, path=str(snap.relative_to(out)))

    llava = tiny.random_model(LlavaForConditionalGeneration, tiny.llava_config(), seed=2, dtype=torch.float16)
    llava.save_pretrained(out / "llava", max_shard_size="100KB")
    expected["models"]["llava"] = dict(config_facts(llava.config), weights=weight_facts(out / "llava", llava),
                                       path="llava")

    qwen3 = tiny.random_model(Qwen3ForCausalLM, tiny.qwen3_config(), seed=3, dtype=torch.float32)
    qwen3.save_pretrained(out / "qwen3")
    expected["models"]["qwen3"] = dict(config_facts(qwen3.config), weights=weight_facts(out / "qwen3", qwen3),
                                       path="qwen3")

    for name, config in CONFIG_ONLY.items():
        d = out / "configs" / name
        d.mkdir(parents=True)
        tiny.write_json(d / "config.json", config)
        expected["models"][f"configs/{name}"] = dict(config_facts(AutoConfig.from_pretrained(d)), weights=None,
                                                     path=f"configs/{name}")

    # Gate directories.
    (out / "gates_expected").mkdir()
    # qwen3vl-rg10's storages say cuda:0, as files saved during GPU training do.
    for name, family, gate_type, base, location in [("qwen3vl-rg", "qwen3_vl", "rg", HUB_REPO, None),
                                                    ("qwen3vl-rg10", "qwen3_vl", "rg10", HUB_REPO, "cuda:0"),
                                                    ("llava-rg", "llava", "rg", "../../llava", None),
                                                    ("qwen3-rg10", "qwen3", "rg10", "../../qwen3", None)]:
        config = tiny.trimkv_config(family, gate_type, base)
        _, state = tiny.random_gates(config, seed=len(expected["gates"]) + 10)
        write_gate_dir(out, name, config, state, expected, location)
        if location is not None:
            with zipfile.ZipFile(out / "gates" / name / "trimkv_weights.pth") as z:
                pickle = next(z.read(n) for n in z.namelist() if n.endswith("/data.pkl"))
            assert location.encode() in pickle, "torch.save no longer goes through serialization.location_tag"

    # rg10 whose repeated copies of the tied tensors differ: the reference runs the last layer's.
    config = tiny.trimkv_config("qwen3_vl", "rg10", HUB_REPO)
    _, state = tiny.random_gates(config, seed=20)
    state = {k: v.clone() for k, v in state.items()}
    with torch.no_grad():
        state["model.language_model.layers.0.self_attn.retention_gate.linear3.weight"].add_(0.5)
        state["model.language_model.layers.1.self_attn.retention_gate.bias"].sub_(1.0)
    write_gate_dir(out, "qwen3vl-rg10-differ", config, state, expected)

    # Error cases: LLM gates (same sizes) on the VLM; a base model nobody downloaded.
    llm_state = torch.load(out / "gates" / "qwen3-rg10" / "trimkv_weights.pth", map_location="cpu")
    d = out / "gates" / "llm-gates-on-vlm"
    d.mkdir()
    tiny.trimkv_config("qwen3_vl", "rg10", HUB_REPO).save_pretrained(d)
    tiny.save_gates(d / "trimkv_weights.pth", llm_state)
    d = out / "gates" / "missing-base"
    d.mkdir()
    tiny.trimkv_config("qwen3_vl", "rg", "trimvl-test/Not-Downloaded").save_pretrained(d)
    shutil.copyfile(out / "gates" / "qwen3vl-rg" / "trimkv_weights.pth", d / "trimkv_weights.pth")

    (out / "bad").mkdir()
    rg = torch.load(out / "gates" / "qwen3vl-rg" / "trimkv_weights.pth", map_location="cpu")
    torch.save(collections.OrderedDict(rg), out / "bad" / "ordered-dict.pth")
    torch.save(rg, out / "bad" / "legacy.pth", _use_new_zipfile_serialization=False)

    tiny.write_json(out / "expected.json", expected)


if __name__ == "__main__":
    main()
