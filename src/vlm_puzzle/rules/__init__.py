"""Rule inference: what kind of puzzle a picture shows and which rules apply.

Two backends produce :class:`RuleHints`: geometry (``rules.geometry``, from the
extracted grid) and Qwen-VL (``rules.vlm``, from the picture); :func:`merge`
combines them (geometry wins where the VLM contradicts the image). Importing this
package does not import torch.
"""
from vlm_puzzle.rules.base import RuleHints
from vlm_puzzle.rules.merge import apply_rules, contradictions, merge
from vlm_puzzle.rules.parse import parse_rule_answer
from vlm_puzzle.rules.prompt import MAX_NEW_TOKENS, build_prompt
from vlm_puzzle.rules.vlm import (ENV_MODEL, VlmRules, infer_rules_vlm, infer_rules_vlm_batch,
                                  infer_rules_vlm_detailed, resolve_backend)

__all__ = ["RuleHints", "merge", "apply_rules", "contradictions", "parse_rule_answer", "build_prompt",
           "MAX_NEW_TOKENS", "ENV_MODEL", "VlmRules", "infer_rules_vlm", "infer_rules_vlm_batch",
           "infer_rules_vlm_detailed", "resolve_backend"]
