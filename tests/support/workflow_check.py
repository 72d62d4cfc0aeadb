"""Checks an API-format workflow against /object_info data the way ComfyUI's /prompt validation does: node types
exist, required inputs are given, links join matching types, widget values are within range or among the options.
File-name combos in the fixture show planted marker files (`__F_<folder>__.<ext>`): any model file name passes
there (the user's folder decides what exists)."""
from __future__ import annotations

import re

MARKER = re.compile(r"^__F_(\w+)__\.(\w+)$")
MODEL_FILE = re.compile(r"\.(safetensors|ckpt|pt|pth|bin|gguf|sft)$")


def _types_match(out_type, in_type) -> bool:
    if isinstance(out_type, list) or isinstance(in_type, list):
        return False
    if "*" in (out_type, in_type) or out_type == in_type:
        return True
    return bool({t.strip() for t in out_type.split(",")} & {t.strip() for t in in_type.split(",")})


def _check_value(node_id: str, name: str, spec: list, value) -> list[str]:
    kind, options = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    choices = kind if isinstance(kind, list) else options.get("options") if kind == "COMBO" else None
    where = f"node {node_id} input {name!r}"
    if choices is not None:
        markers = [MARKER.match(str(c)) for c in choices]
        if value in choices:
            return []
        if any(markers) and MODEL_FILE.search(str(value)):
            return []
        return [f"{where}: {value!r} is not one of {choices[:8]}"]
    if kind in ("INT", "FLOAT"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "INT" and not float(value).is_integer()):
            return [f"{where}: {value!r} is not {kind}"]
        low, high = options.get("min"), options.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            return [f"{where}: {value} outside {low}..{high}"]
    elif kind == "BOOLEAN" and not isinstance(value, bool):
        return [f"{where}: {value!r} is not a boolean"]
    elif kind == "STRING" and not isinstance(value, str):
        return [f"{where}: {value!r} is not a string"]
    return []


def check_workflow(graph: dict, object_info: dict) -> list[str]:
    errors = []
    for node_id, node in graph.items():
        info = object_info.get(node["class_type"])
        if info is None:
            errors.append(f"node {node_id}: unknown node type {node['class_type']}")
            continue
        specs = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
        for name in info["input"].get("required", {}):
            if name not in node["inputs"]:
                errors.append(f"node {node_id} ({node['class_type']}): required input {name!r} missing")
        for name, value in node["inputs"].items():
            if name not in specs:
                if node["class_type"] == "VHS_VideoCombine":  # its format-specific widgets come and go
                    continue
                errors.append(f"node {node_id} ({node['class_type']}): unknown input {name!r}")
                continue
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                source = graph.get(value[0])
                if source is None:
                    errors.append(f"node {node_id} input {name!r}: links to missing node {value[0]}")
                    continue
                outputs = object_info.get(source["class_type"], {}).get("output", [])
                if value[1] >= len(outputs):
                    errors.append(f"node {node_id} input {name!r}: node {value[0]} has no output {value[1]}")
                elif not _types_match(outputs[value[1]], specs[name][0]):
                    errors.append(f"node {node_id} input {name!r}: {outputs[value[1]]} → {specs[name][0]} mismatch")
            else:
                errors.extend(_check_value(node_id, name, specs[name], value))
    return errors
