"""Model inputs for pictures already at the model's size, made on the model's device.

The Qwen2-VL processor normalises and cuts pictures into patches on one CPU thread: for the
shipped ``vlm-puzzle-tiny`` (81 visual tokens) that is most of a batch's time on a GPU (~250
puzzles/s of the model's ~1,200). Pictures whose sides are already multiples of patch x merge
size (the grid view of ``rules/view.py`` is 252 x 252) need none of its resizing: stacked as
uint8 they go to the device in one copy and are normalised and patchified there, in the
processor's order (rescale, normalise, ``temporal_patch_size`` frames, 14-px patches in 2x2
merge groups). Training (``training/tiny_vlm.py``) makes its batches the same way.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def patchify(pictures: torch.Tensor, mean, std, *, patch: int = 14, merge: int = 2, temporal: int = 2,
             dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """(pixel_values, image_grid_thw) of ``pictures``: (B, H, W, 3) RGB, uint8 or float 0..1
    (H, W multiples of ``patch * merge``), as the Qwen2-VL image processor gives them."""
    b, h, w, c = pictures.shape
    if h % (patch * merge) or w % (patch * merge):
        raise ValueError(f"picture sides {w}x{h} are not multiples of {patch * merge}")
    x = pictures.permute(0, 3, 1, 2).float()
    if pictures.dtype == torch.uint8:
        x = x / 255
    mean = torch.as_tensor(mean, device=x.device, dtype=x.dtype).view(1, c, 1, 1)
    std = torch.as_tensor(std, device=x.device, dtype=x.dtype).view(1, c, 1, 1)
    x = (x - mean) / std
    gh, gw = h // patch, w // patch
    x = x.unsqueeze(1).expand(b, temporal, c, h, w)  # a still picture: the same frame `temporal` times
    x = x.reshape(b, temporal, c, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(b * gh * gw, c * temporal * patch * patch)
    grid = torch.tensor([[1, gh, gw]] * b, device=x.device)
    return x.to(dtype), grid


def stack(pictures: Sequence[np.ndarray], device) -> torch.Tensor:
    """Equal-size RGB uint8 pictures as one (B, H, W, 3) uint8 tensor on ``device`` (one copy)."""
    arr = np.stack([np.asarray(p, dtype=np.uint8) for p in pictures])
    t = torch.from_numpy(arr)
    if torch.device(device).type == "cuda":
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def direct_inputs(vlm, pictures: Sequence[np.ndarray] | torch.Tensor, prompt: str) -> dict:
    """The inputs ``vlm`` (a ``QwenVL``) makes for ``pictures`` (equal-size RGB uint8, sides multiples
    of its patch x merge size, within its pixel bounds: the processor would not resize them) and
    one ``prompt``: the same ids, mask and pixels as ``QwenVL.prepare_inputs``, made on the device."""
    proc = vlm.processor
    ip = proc.image_processor
    pics = pictures if isinstance(pictures, torch.Tensor) else stack(pictures, vlm.device)
    pixel_values, grid = patchify(pics, ip.image_mean, ip.image_std, patch=ip.patch_size, merge=ip.merge_size,
                                  temporal=ip.temporal_patch_size, dtype=vlm.model.dtype)
    n_visual = int(grid[0].prod().item()) // ip.merge_size ** 2
    text = proc.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}],
        tokenize=False, add_generation_prompt=True)
    tok = proc.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"]
    pad = tok.convert_tokens_to_ids(proc.image_token)
    at = ids.index(pad)
    row = ids[:at] + [pad] * n_visual + ids[at + 1:]
    input_ids = torch.tensor([row] * pics.shape[0], device=vlm.device)
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
              "pixel_values": pixel_values, "image_grid_thw": grid}
    if "mm_token_type_ids" in proc.model_input_names:
        inputs["mm_token_type_ids"] = (input_ids == pad).int()
    return inputs
