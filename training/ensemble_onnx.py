"""Join classifiers of one label space into one ONNX file that averages their log-probabilities.

Each member's logits go through LogSoftmax; the output ``logits`` is their mean, so the reader's
softmax of it is the normalised geometric mean of the members' probabilities. One member sure and
right on a style the other never saw keeps the joint answer; two members must both doubt a symbol
for it to be doubted. The members must share input (``patches``), classes and patch size (their
JSON cards); the card written beside the output is the first member's, with ``ensemble`` naming the
members.

    python training/ensemble_onnx.py OUT.onnx A.onnx B.onnx
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import onnx
from onnx import compose, helper


MEANS = {"geometric": "LogSoftmax", "arithmetic": "Softmax"}


def ensemble(paths: list[Path], mean: str = "arithmetic", temperature: float = 1.0) -> onnx.ModelProto:
    """One model whose ``logits`` give, through a softmax, the members' mean probabilities
    (sharpened or softened by ``temperature``: the output is divided by it)."""
    members = [onnx.load(str(p)) for p in paths]
    input_name = members[0].graph.input[0].name
    merged = None
    outs = []
    for i, m in enumerate(members):
        m = compose.add_prefix(m, prefix=f"m{i}_")
        # every member reads the one shared input
        for node in m.graph.node:
            node.input[:] = [input_name if x == f"m{i}_{input_name}" else x for x in node.input]
        del m.graph.input[:]
        outs.append(m.graph.output[0].name)
        if merged is None:
            merged = m
        else:
            merged.graph.node.extend(m.graph.node)
            merged.graph.initializer.extend(m.graph.initializer)
            merged.graph.value_info.extend(m.graph.value_info)
    merged.graph.input.extend([members[0].graph.input[0]])
    nodes = [helper.make_node(MEANS[mean], [o], [f"{o}_p"], axis=1) for o in outs]
    total = nodes[-1].output[0]
    for k, n in enumerate(nodes[:-1]):
        nodes.append(helper.make_node("Add", [total, n.output[0]], [f"sum{k}"]))
        total = f"sum{k}"
    scale = helper.make_tensor("inv_members", onnx.TensorProto.FLOAT, [], [1.0 / len(members)])
    merged.graph.initializer.append(scale)
    last = "logits" if temperature == 1.0 else "mean_logits"
    if mean == "geometric":
        nodes.append(helper.make_node("Mul", [total, "inv_members"], [last]))
    else:  # log of the mean probability: the reader's softmax gives that mean back
        nodes.append(helper.make_node("Mul", [total, "inv_members"], ["mean_p"]))
        nodes.append(helper.make_node("Log", ["mean_p"], [last]))
    if temperature != 1.0:
        merged.graph.initializer.append(helper.make_tensor("inv_temperature", onnx.TensorProto.FLOAT, [],
                                                           [1.0 / temperature]))
        nodes.append(helper.make_node("Mul", [last, "inv_temperature"], ["logits"]))
    merged.graph.node.extend(nodes)
    out = members[0].graph.output[0]
    del merged.graph.output[:]
    merged.graph.output.extend([helper.make_tensor_value_info("logits", out.type.tensor_type.elem_type, ["batch", None])])
    onnx.checker.check_model(merged)
    return merged


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("members", type=Path, nargs="+")
    ap.add_argument("--mean", choices=sorted(MEANS), default="arithmetic")
    ap.add_argument("--temperature", type=float, default=1.0,
                    help="divide the joint logits by this (training/calibrate_digits.py fits it)")
    args = ap.parse_args(argv)
    cards = [json.loads(p.with_suffix(".json").read_text()) for p in args.members]
    for c in cards[1:]:
        # (the cards' "input" wording changed with module names, not the input itself)
        if (c["classes"], c.get("input_size"), c.get("input_hw")) != \
                (cards[0]["classes"], cards[0].get("input_size"), cards[0].get("input_hw")):
            raise SystemExit("members differ in classes or input size")
    onnx.save(ensemble(args.members, args.mean, args.temperature), str(args.out))
    card = dict(cards[0], ensemble=[{"name": c.get("name"), "training": c.get("training")} for c in cards])
    if args.temperature != 1.0:
        card["temperature"] = args.temperature
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) from {len(args.members)} members")


if __name__ == "__main__":
    main()
