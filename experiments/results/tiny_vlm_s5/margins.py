"""Newspaper photos: the new checkpoint's answers at several view margins (geometry read once)."""
import sys, json, collections
from pathlib import Path
from multiprocessing import get_context
sys.path.insert(0, 'experiments'); sys.path.insert(0, 'training')
import cv2, torch
cv2.setNumThreads(1); torch.set_num_threads(1)
import eval_vlm_rules as E
from vlm_puzzle.models import QwenVL
from vlm_puzzle.rules.vlm import infer_rules_vlm_detailed
folder = Path(sys.argv[1]); margins = [float(m) for m in sys.argv[2].split(',')]
vlm = QwenVL.from_pretrained('/tmp/w14/new/vlm-puzzle-tiny', device='cpu')
cases = list(E.photo_cases(folder, None))
right = collections.Counter(); wrong = collections.defaultdict(list)
with get_context('fork').Pool(2) as pool:
    for name, image, truth, reading in pool.imap(E.geometry_case, cases):
        for m in margins:
            shown = reading.vlm_image('grid', 308, m) if reading.loaded is not None else image
            [ans] = infer_rules_vlm_detailed(vlm, [shown])
            ok = E.score(E.fields_of(ans.hints) if ans.hints.kind else None, truth)['whole']
            right[m] += ok
            if not ok: wrong[m].append((name, ans.hints.kind))
print(json.dumps({str(m): {'right': right[m], 'n': len(cases), 'wrong': wrong[m]} for m in margins}))
