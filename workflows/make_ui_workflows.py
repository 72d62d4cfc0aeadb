"""Writes the graph-editor (UI-format) twin of every API workflow in this folder: workflows/X.api.json → X.ui.json.

    python workflows/make_ui_workflows.py OBJECT_INFO.json

OBJECT_INFO.json is the /object_info of a ComfyUI with ToonGen installed (for our nodes' widget order); core and
video-pack nodes use tests/fixtures/node_specs.json, measured on a real frontend (widget order, VHS's dict form).
Nodes are laid out left to right by depth in the graph.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPECS = HERE.parent / "tests" / "fixtures" / "node_specs.json"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def input_specs(info: dict) -> dict:
    return {**info["input"].get("required", {}), **info["input"].get("optional", {})}


def input_order(info: dict) -> list[str]:
    order = info.get("input_order") or {}
    names = [*order.get("required", []), *order.get("optional", [])]
    return names or list(input_specs(info))


def is_widget(spec: list) -> bool:
    kind, options = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    return (isinstance(kind, (list, dict)) or kind in WIDGET_TYPES) and not options.get("forceInput")  # dict: a file-name combo


def widget_order(node_type: str, info: dict, specs: dict) -> list[str]:
    known = specs.get(node_type, {}).get("ui_widgets_values_order")
    if known:
        return known
    order = []
    for name in input_order(info):
        spec = input_specs(info)[name]
        if is_widget(spec):
            order.append(name)
            if len(spec) > 1 and isinstance(spec[1], dict) and spec[1].get("control_after_generate"):
                order.append("control_after_generate")
    return order


def default_of(spec: list):
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "default" in options:
        return options["default"]
    choices = spec[0] if isinstance(spec[0], list) else options.get("options")
    if isinstance(spec[0], dict):  # a file-name combo: no default file
        return None
    return choices[0] if choices else ("" if spec[0] == "STRING" else None)


def depth(graph: dict, node_id: str, memo: dict) -> int:
    if node_id not in memo:
        memo[node_id] = 0
        parents = [v[0] for v in graph[node_id]["inputs"].values() if is_link(v)]
        memo[node_id] = 1 + max((depth(graph, p, memo) for p in parents), default=-1)
    return memo[node_id]


def to_ui(graph: dict, object_info: dict, specs: dict) -> dict:
    nodes, links, memo, rows = [], [], {}, {}
    outgoing: dict[tuple[str, int], list[int]] = {}
    for target, node in graph.items():
        info = object_info[node["class_type"]]
        for slot, name in enumerate(n for n in input_order(info)):
            value = node["inputs"].get(name)
            if is_link(value):
                link_id = len(links) + 1
                out_type = object_info[graph[value[0]]["class_type"]]["output"][value[1]]
                links.append([link_id, int(value[0]), value[1], int(target), name, out_type])
                outgoing.setdefault((value[0], value[1]), []).append(link_id)
    link_by_target = {(link[3], link[4]): link for link in links}
    for order, (node_id, node) in enumerate(sorted(graph.items(), key=lambda kv: (depth(graph, kv[0], memo), int(kv[0])))):
        node_type = node["class_type"]
        info = object_info[node_type]
        inputs, slot = [], 0
        for name in input_order(info):
            spec = input_specs(info)[name]
            link = link_by_target.get((int(node_id), name))
            if not is_widget(spec) or link:
                entry = {"name": name, "type": spec[0] if isinstance(spec[0], str) else "COMBO",
                         "link": link[0] if link else None}
                if is_widget(spec):
                    entry["widget"] = {"name": name}
                inputs.append(entry)
                if link:
                    link[4] = slot
                slot += 1
        values = []
        for name in widget_order(node_type, info, specs):
            if name == "control_after_generate":
                values.append("fixed")
            elif name in input_specs(info):
                value = node["inputs"].get(name)
                values.append(default_of(input_specs(info)[name]) if value is None or is_link(value) else value)
        if node_type.startswith("VHS_"):
            names = [n for n in widget_order(node_type, info, specs) if n != "control_after_generate"]
            values = {name: node["inputs"].get(name, default_of(input_specs(info)[name])) for name in input_specs(info)
                      if is_widget(input_specs(info)[name]) and not is_link(node["inputs"].get(name))}
            values.update({k: v for k, v in node["inputs"].items() if not is_link(v) and k not in names})
            if node_type == "VHS_VideoCombine":
                values["videopreview"] = {"hidden": False, "paused": False, "params": {}}
        outputs = [{"name": (info.get("output_name") or info["output"])[i], "type": out_type,
                    "links": outgoing.get((node_id, i), []), "slot_index": i}
                   for i, out_type in enumerate(info["output"])]
        level = depth(graph, node_id, memo)
        rows[level] = rows.get(level, -1) + 1
        nodes.append({"id": int(node_id), "type": node_type, "pos": [level * 360, rows[level] * 260],
                      "size": [320, 220], "flags": {}, "order": order, "mode": 0, "inputs": inputs,
                      "outputs": outputs, "title": node.get("_meta", {}).get("title", node_type),
                      "properties": {"Node name for S&R": node_type}, "widgets_values": values})
    return {"id": "00000000-0000-0000-0000-000000000000", "revision": 0,
            "last_node_id": max(int(k) for k in graph), "last_link_id": len(links), "nodes": nodes, "links": links,
            "groups": [], "config": {}, "extra": {"ds": {"scale": 0.6, "offset": [0, 0]}}, "version": 0.4}


def main() -> None:
    live = json.loads(Path(sys.argv[1]).read_text())
    specs = {k: v for k, v in json.loads(SPECS.read_text()).items() if not k.startswith("_")}
    object_info = {**specs, **{k: v for k, v in live.items() if k.startswith("ToonGen")}}
    object_info.update({k: v for k, v in live.items() if k not in object_info})
    for api in sorted(HERE.glob("*.api.json")):
        target = api.with_name(api.name.replace(".api.json", ".ui.json"))
        target.write_text(json.dumps(to_ui(json.loads(api.read_text()), object_info, specs), indent=1,
                                     ensure_ascii=False) + "\n")
        print(f"wrote workflows/{target.name}")


if __name__ == "__main__":
    main()
