"""Plain data the Qwen-VL wrapper hands across the package boundary (no torch here)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GenerateTimings:
    """Seconds spent in each stage of one generate call.

    ``load_s`` is the model's one-time load (the same for every call of one wrapper);
    ``preprocess_s`` covers image resizing, the chat template and the processor;
    ``prefill_s`` is the time to the first generated token (vision encoder + prompt
    forward), ``decode_s`` the rest of generation. With a batch, the stage times are
    the batch's (every image of a batch shares them). ``warmup_s`` is one-time work of
    the fast decode path (CUDA-graph capture, compile) paid by the first call of a
    shape; it is excluded from ``decode_s``.
    """

    load_s: float
    preprocess_s: float
    prefill_s: float
    decode_s: float
    warmup_s: float = 0.0

    @property
    def generate_s(self) -> float:
        return self.prefill_s + self.decode_s

    @property
    def total_s(self) -> float:
        """Preprocess + prefill + decode (+ one-time warm-up): one call's cost, the load excluded."""
        return self.preprocess_s + self.prefill_s + self.decode_s + self.warmup_s


@dataclass(frozen=True)
class Generation:
    """One image's answer and what it cost.

    ``n_tokens`` counts the generated tokens including a final EOS; ``stopped_by``
    is ``"eos"`` or ``"max_new_tokens"``. ``visual_tokens`` is the number of image
    tokens the language model saw (after the 2x2 merge), ``image_size`` the
    (width, height) the image was resized to. ``tokens_per_s`` is the decode rate of
    the batch: the tokens every row generated after its first, over ``decode_s``.
    """

    text: str
    token_ids: tuple[int, ...]
    n_tokens: int
    stopped_by: str
    prompt_tokens: int
    visual_tokens: int
    image_size: tuple[int, int]
    timings: GenerateTimings
    tokens_per_s: float
    batch_size: int
    attn_implementation: str
    decode: str
    max_pixels: int

    def to_dict(self) -> dict:
        d = asdict(self)
        d["timings"]["generate_s"] = self.timings.generate_s
        d["timings"]["total_s"] = self.timings.total_s
        return d
