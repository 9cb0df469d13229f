"""One attention call per group of equal-length windows in the Qwen-VL vision tower (sdpa).

With sdpa, transformers' vision attention splits the patch sequence at ``cu_seqlens`` and calls
attention once per window and image: a 504x504 image is 25 windows in Qwen2.5-VL's windowed layers,
so a batch of 16 puzzles makes ~11,000 small attention calls per prefill. Consecutive windows of the
same length are stacked into one batched ``scaled_dot_product_attention`` call here instead: the same
per-window attention (no cross-window mask), far fewer launches.

    with batched_vision_attention(model):
        model(**inputs)           # prefill; the model is unchanged outside the block
"""
from __future__ import annotations

import contextlib
import sys
import types

import torch

_ATTN_CLASSES = ("Qwen2VLVisionAttention", "VisionAttention", "Qwen2_5_VLVisionAttention", "Qwen3VLVisionAttention")


def _vision_attention_modules(model):
    visual = getattr(getattr(model, "model", model), "visual", None)
    if visual is None:
        return []
    # Only sdpa: eager keeps its own path, flash attention is already one varlen call.
    return [m for m in visual.modules() if type(m).__name__ in _ATTN_CLASSES and hasattr(m, "qkv")
            and getattr(getattr(m, "config", None), "_attn_implementation", None) == "sdpa"]


def _forward(self, hidden_states, cu_seqlens, position_embeddings=None, max_seqlen=None, **kwargs):
    rotary = sys.modules[type(self).__module__].apply_rotary_pos_emb_vision
    seq = hidden_states.shape[0]
    q, k, v = self.qkv(hidden_states).reshape(seq, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    cos, sin = position_embeddings
    q, k = rotary(q, k, cos, sin)  # (seq, heads, head_dim)
    heads, dim = q.shape[1], q.shape[2]
    lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
    outs, start, i = [], 0, 0
    while i < len(lengths):
        j = i
        while j < len(lengths) and lengths[j] == lengths[i]:
            j += 1
        n, length = j - i, lengths[i]
        span = slice(start, start + n * length)

        def group(t):  # (n*length, heads, dim) -> (n, heads, length, dim)
            return t[span].reshape(n, length, heads, dim).transpose(1, 2)

        o = torch.nn.functional.scaled_dot_product_attention(group(q), group(k), group(v), dropout_p=0.0,
                                                             scale=self.scaling, is_causal=False)
        outs.append(o.transpose(1, 2).reshape(n * length, heads * dim))
        start += n * length
        i = j
    out = torch.cat(outs, dim=0) if len(outs) > 1 else outs[0]
    return self.proj(out.contiguous())


@contextlib.contextmanager
def batched_vision_attention(model, enabled: bool = True):
    """Inside the block, the vision tower's sdpa attention runs one call per group of equal windows."""
    mods = _vision_attention_modules(model) if enabled else []
    for m in mods:
        m.forward = types.MethodType(_forward, m)
    try:
        yield len(mods)
    finally:
        for m in mods:
            del m.forward  # back to the class's forward
