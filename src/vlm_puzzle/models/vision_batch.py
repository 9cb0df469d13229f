"""One attention call per group of equal-length windows in the Qwen-VL vision tower (sdpa).

With sdpa, transformers' vision attention splits the patch sequence at ``cu_seqlens`` and calls
attention once per window and image: a 504x504 image is 25 windows in Qwen2.5-VL's windowed layers,
so a batch of 16 puzzles makes ~11,000 small attention calls per prefill. Consecutive windows of the
size are gathered into one batched ``scaled_dot_product_attention`` call here instead (one call per
window size, usually 1-3): the same per-window attention, far fewer launches.

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
    lengths = cu_seqlens[1:] - cu_seqlens[:-1]
    sizes = sorted(set(lengths.tolist()))
    if len(sizes) == 1:  # all windows alike (e.g. 448 px images): plain views, no gather
        n, length = lengths.numel(), sizes[0]
        o = _sdpa(self, *(t.reshape(n, length, heads, dim).transpose(1, 2) for t in (q, k, v)))
        return self.proj(o.transpose(1, 2).reshape(seq, heads * dim).contiguous())
    # Windows of several sizes (edge windows of 504 px images): gather each size, one call per size.
    out = torch.empty((seq, heads, dim), dtype=q.dtype, device=q.device)
    starts = cu_seqlens[:-1]
    for length in sizes:
        first = starts[lengths == length]
        idx = (first[:, None] + torch.arange(length, device=first.device)[None, :]).reshape(-1)
        n = first.numel()
        o = _sdpa(self, *(t.index_select(0, idx).reshape(n, length, heads, dim).transpose(1, 2) for t in (q, k, v)))
        out.index_copy_(0, idx, o.transpose(1, 2).reshape(n * length, heads, dim))
    return self.proj(out.reshape(seq, heads * dim))


def _sdpa(self, q, k, v):
    # (windows, heads, length, head_dim): each window attends within itself, as the per-window calls do.
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=0.0, scale=self.scaling,
                                                            is_causal=False)


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
