import sys, json, numpy as np
sys.path.insert(0, "training")
import train_clues as t
from vlm_puzzle.vision.clues import column_probs, ctc_decode, parse_clue
x, y = t.hand_dataset(2000, 330, 2, split="heldout")
W = "src/vlm_puzzle/vision/weights/"
def reads(path):
    z = column_probs(x.astype(np.float32) / 255.0, path)
    out = []
    for zi in z:
        text, probs, alts = ctc_decode(zi)
        out.append((text, parse_clue(text, probs, alts).confidence if text else 0.0))
    return out
a, b = reads(W + "clues_ctc3.onnx"), reads(W + "clues_hand.onnx")
pair = [max(p, q, key=lambda r: r[1]) if q[1] > p[1] else p for p, q in zip(a, b)]
clue = np.array([bool(v) for v in y])
res = {}
for name, got in (("shipped", a), ("hand", b), ("pair", pair)):
    ok = np.array([g[0] == v for g, v in zip(got, y)])
    res[name] = {"all": round(float(ok.mean()), 4), "clue_cells": round(float(ok[clue].mean()), 4),
                 "plain_cells": round(float(ok[~clue].mean()), 4)}
print(json.dumps(res))
