"""Turns a workflow description (an API-format graph plus a layout by stages) into the graph editor's UI format
(workflow schema 0.4), the way ComfyUI's own templates look: stages left to right, each a titled, coloured group;
nodes stacked in columns inside a stage at the sizes the frontend computes for them; long links carried on lanes
of native reroutes outside the groups; links that run backwards routed through the gap between rows.

Widget orders come from /object_info (ours) and workflows/sources/node_specs.json (core and video packs, measured on
a real frontend: widget order, VHS's dict form, control_after_generate).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UI_ONLY = {"MarkdownNote", "Note"}  # frontend-only nodes: in the UI file, never in the API file

NODE_TITLE = 30      # LiteGraph.NODE_TITLE_HEIGHT: a node's title bar sits above its pos
GROUP_HEAD = 56      # the group's title bar (font 24) and some air below it
PAD = 24             # group edge to the nodes
NODE_GAP = 40        # between nodes of a row
ROW_GAP = 40         # between rows of a column (plus the next row's title bar)
COL_GAP = 80         # between columns: room for links and reroutes
GROUP_GAP = 110      # between groups: room for the lanes' vertical runs
LANE_GAP = 30        # between parallel lanes
DEFAULT_SIZE = (320, 160)


@dataclass
class Column:
    rows: list[list[str]]          # node ids: rows top to bottom, each row's nodes left to right
    dy: int = 0                    # extra space above the column (to let links pass above it)


@dataclass
class Stage:
    title: str
    color: str
    columns: list[Column]


@dataclass
class Route:
    """Links from one output to far-away inputs, carried on a lane of reroutes below (or above) the groups."""
    origin: tuple[str, int]                 # (node id, output slot)
    targets: list[tuple[str, str]]          # (node id, input name)
    side: str = "below"
    offset: int = 16                        # how far right of its origin the link turns onto the lane
    approach: int = 36                      # how far left of its target it leaves the lane


@dataclass
class Layout:
    stages: list[Stage]
    routes: list[Route] = field(default_factory=list)
    min_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)   # larger than computed, for readability
    view: dict | None = None                                              # extra.ds: where the editor opens


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
    if known is not None:
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
    if isinstance(spec[0], dict):  # a file-name combo: no default file
        return None
    choices = spec[0] if isinstance(spec[0], list) else options.get("options")
    return choices[0] if choices else ("" if spec[0] == "STRING" else None)


def widget_values(node: dict, info: dict, specs: dict):
    node_type, inputs = node["class_type"], node["inputs"]
    all_specs = input_specs(info)
    if node_type.startswith("VHS_"):  # VHS keeps a dict keyed by widget name, format widgets included
        values = {name: inputs.get(name, default_of(spec)) for name, spec in all_specs.items()
                  if is_widget(spec) and not is_link(inputs.get(name))}
        values.update({k: v for k, v in inputs.items() if not is_link(v)})
        if node_type == "VHS_VideoCombine":
            values["videopreview"] = {"hidden": False, "paused": False, "params": {}}
        return values
    values = []
    for name in widget_order(node_type, info, specs):
        if name == "control_after_generate":
            values.append("fixed")
        elif name in all_specs:
            value = inputs.get(name)
            values.append(default_of(all_specs[name]) if value is None or is_link(value) else value)
    return values


def api_graph(graph: dict) -> dict:
    """The API-format twin: every node but the frontend-only ones."""
    return {node_id: {k: v for k, v in node.items() if k in ("inputs", "class_type", "_meta")}
            for node_id, node in graph.items() if node["class_type"] not in UI_ONLY}


class _Placement:
    def __init__(self, graph: dict, layout: Layout, sizes: dict[str, list[int]]):
        self.pos: dict[str, list[int]] = {}
        self.size: dict[str, list[int]] = {}
        self.groups: list[tuple[Stage, list[int]]] = []
        for node_id in graph:
            measured = sizes.get(node_id, DEFAULT_SIZE)
            wanted = layout.min_sizes.get(node_id, (0, 0))
            self.size[node_id] = [max(int(measured[0]), wanted[0]), max(int(measured[1]), wanted[1])]
        x = 0
        for stage in layout.stages:
            col_x, lefts = x + PAD, []
            for column in stage.columns:
                lefts.append(col_x)
                col_x += max(self._row_width(row) for row in column.rows) + COL_GAP
            bottom = 0
            for column, left in zip(stage.columns, lefts):
                y = GROUP_HEAD + column.dy
                for row in column.rows:
                    row_x, height = left, 0
                    for node_id in row:
                        w, h = self.size[node_id]
                        self.pos[node_id] = [row_x, y + NODE_TITLE]
                        row_x += w + NODE_GAP
                        height = max(height, h + NODE_TITLE)
                    y += height + ROW_GAP
                bottom = max(bottom, y - ROW_GAP)
            right = col_x - COL_GAP + PAD
            self.groups.append((stage, [x, 0, right - x, bottom + PAD]))
            x = right + GROUP_GAP
        missing = set(graph) - set(self.pos)
        if missing:
            raise ValueError(f"nodes placed in no stage: {sorted(missing)}")

    def _row_width(self, row: list[str]) -> int:
        return sum(self.size[n][0] for n in row) + NODE_GAP * (len(row) - 1)

    def box(self, node_id: str) -> tuple[int, int, int, int]:
        """left, top (title bar included), right, bottom"""
        (x, y), (w, h) = self.pos[node_id], self.size[node_id]
        return x, y - NODE_TITLE, x + w, y + h


class _Reroutes:
    def __init__(self):
        self.items: list[dict] = []
        self.link_parent: dict[int, int] = {}

    def add(self, pos: list[float], link_ids: list[int], parent: int | None = None) -> int:
        reroute = {"id": len(self.items) + 1, "pos": [round(pos[0]), round(pos[1])], "linkIds": link_ids}
        if parent is not None:
            reroute["parentId"] = parent
        self.items.append(reroute)
        return reroute["id"]


@dataclass
class _Lane:
    route: Route
    x_down: float
    x_ups: list[float]
    y: float = 0.0

    @property
    def span(self) -> tuple[float, float]:
        return min(self.x_down, *self.x_ups), max(self.x_down, *self.x_ups)

    def links_at(self, x: float) -> int:
        """How many of its links the lane carries at x."""
        return sum(1 for x_up in self.x_ups if min(self.x_down, x_up) < x < max(self.x_down, x_up))

    def verticals(self) -> list[tuple[float, int]]:
        """(x, links carried) of the runs between the groups and the lane."""
        return [(self.x_down, len(self.x_ups)), *((x_up, 1) for x_up in self.x_ups)]


def _stack(lanes: list[_Lane], place: _Placement, side: str) -> None:
    """Give each lane its distance from the groups, in the given order (nearest first), without overlaps."""
    laid: list[_Lane] = []
    for lane in lanes:
        x0, x1 = lane.span
        spanned = [r for _, r in place.groups if r[0] < x1 and r[0] + r[2] > x0]
        if side == "below":
            y, step = max(r[1] + r[3] for r in spanned) + 2 * LANE_GAP, LANE_GAP
        else:
            y, step = min(r[1] for r in spanned) - 2 * LANE_GAP, -LANE_GAP
        while any(abs(y - other.y) < LANE_GAP and other.span[0] < x1 and other.span[1] > x0 for other in laid):
            y += step
        lane.y = y
        laid.append(lane)


def _lane_crossings(lanes: list[_Lane], side: str) -> int:
    """Link pairs crossing where a lane's vertical run passes another lane nearer the groups."""
    crossings = 0
    for near in lanes:
        for far in lanes:
            farther = far.y > near.y if side == "below" else far.y < near.y
            if not farther:
                continue
            crossings += sum(carried * near.links_at(x) for x, carried in far.verticals())
    return crossings


def _route_lanes(routes: list[Route], place: _Placement, link_id_of: dict, reroutes: _Reroutes) -> None:
    """Long links run on lanes of reroutes outside the groups. The lanes of a side are stacked shortest nearest
    the groups, then reordered pair by pair while that makes fewer links cross."""
    for side in ("above", "below"):
        lanes = sorted((_Lane(r, place.box(r.origin[0])[2] + r.offset,
                              [place.box(t)[0] - r.approach for t, _ in r.targets])
                        for r in routes if r.side == side), key=lambda lane: lane.span[1] - lane.span[0])

        def score(order: list[_Lane]) -> tuple[int, float]:
            _stack(order, place, side)
            return _lane_crossings(order, side), sum(abs(lane.y) for lane in order)

        best, improved = score(lanes), True
        while improved:
            improved = False
            for i, j in itertools.combinations(range(len(lanes)), 2):
                swapped = lanes[:]
                swapped[i], swapped[j] = swapped[j], swapped[i]
                if (result := score(swapped)) < best:
                    lanes, best, improved = swapped, result, True
        _stack(lanes, place, side)
        for lane in lanes:
            links = [link_id_of[(t, name)] for t, name in lane.route.targets]
            trunk = reroutes.add([lane.x_down, lane.y], links)
            for link, x_up in zip(links, lane.x_ups):
                reroutes.link_parent[link] = reroutes.add([x_up, lane.y], [link], parent=trunk)


def _route_backward(link: list, place: _Placement, reroutes: _Reroutes) -> None:
    """A link whose target lies left of its origin's output goes round through the gap between the two nodes."""
    origin, target = str(link[1]), str(link[3])
    ol, ot, o_right, ob = place.box(origin)
    tl, tt, tr, tb = place.box(target)
    if tl > o_right:
        return
    if ot >= tb:
        gap_y = (tb + ot) / 2
    elif tt >= ob:
        gap_y = (ob + tt) / 2
    else:
        gap_y = max(ob, tb) + ROW_GAP / 2
    first = reroutes.add([o_right + 20, gap_y], [link[0]])
    reroutes.link_parent[link[0]] = reroutes.add([tl - 20, gap_y], [link[0]], parent=first)


def to_ui(workflow_id: str, graph: dict, layout: Layout, object_info: dict, specs: dict,
          sizes: dict[str, list[int]], properties: dict[str, dict], ui_values: dict[str, list] | None = None) -> dict:
    """`sizes`: node id → [w, h] as the frontend computes them; `properties`: node id → node properties;
    `ui_values`: widgets_values of frontend-only nodes (a note's text)."""
    place = _Placement(graph, layout, sizes)
    links, outgoing, link_id_of = [], {}, {}
    for target, node in graph.items():
        if node["class_type"] in UI_ONLY:
            continue
        info = object_info[node["class_type"]]
        for name in input_order(info):
            value = node["inputs"].get(name)
            if is_link(value):
                out_type = object_info[graph[value[0]]["class_type"]]["output"][value[1]]
                link = [len(links) + 1, int(value[0]), value[1], int(target), name, out_type]
                links.append(link)
                outgoing.setdefault((value[0], value[1]), []).append(link[0])
                link_id_of[(target, name)] = link[0]
    link_by_target = {(str(link[3]), link[4]): link for link in links}

    order = _execution_order(graph)
    nodes = []
    for node_id, node in graph.items():
        node_type = node["class_type"]
        base = {"id": int(node_id), "type": node_type, "pos": place.pos[node_id], "size": place.size[node_id],
                "flags": {}, "order": order[node_id], "mode": 0}
        if node_type in UI_ONLY:
            nodes.append({**base, "inputs": [], "outputs": [], "title": node["_meta"]["title"],
                          "properties": properties.get(node_id, {}),
                          "widgets_values": (ui_values or {}).get(node_id, [""]), "color": "#432", "bgcolor": "#653"})
            continue
        info = object_info[node_type]
        inputs, slot = [], 0
        for name in input_order(info):
            spec = input_specs(info)[name]
            link = link_by_target.get((node_id, name))
            if not is_widget(spec) or link:
                entry = {"name": name, "type": spec[0] if isinstance(spec[0], str) else "COMBO",
                         "link": link[0] if link else None}
                if is_widget(spec):
                    entry["widget"] = {"name": name}
                inputs.append(entry)
                if link:
                    link[4] = slot
                slot += 1
        outputs = [{"name": (info.get("output_name") or info["output"])[i], "type": out_type,
                    "links": outgoing.get((node_id, i), []), "slot_index": i}
                   for i, out_type in enumerate(info["output"])]
        nodes.append({**base, "inputs": inputs, "outputs": outputs,
                      "title": node.get("_meta", {}).get("title", node_type),
                      "properties": properties.get(node_id, {"Node name for S&R": node_type}),
                      "widgets_values": widget_values(node, info, specs)})

    reroutes = _Reroutes()
    _route_lanes(layout.routes, place, link_id_of, reroutes)
    routed = {link_id_of[(t, name)] for route in layout.routes for t, name in route.targets}
    for link in links:
        if link[0] not in routed:
            _route_backward(link, place, reroutes)

    extra: dict = {}
    if layout.view:
        extra["ds"] = layout.view
    if reroutes.items:
        extra["reroutes"] = reroutes.items
        extra["linkExtensions"] = [{"id": link_id, "parentId": parent}
                                   for link_id, parent in sorted(reroutes.link_parent.items())]
    groups = [{"id": i + 1, "title": stage.title, "bounding": rect, "color": stage.color, "font_size": 24,
               "flags": {}} for i, (stage, rect) in enumerate(place.groups)]
    return {"id": workflow_id, "revision": 0,
            "last_node_id": max(int(k) for k in graph), "last_link_id": len(links), "nodes": nodes, "links": links,
            "groups": groups, "config": {}, "extra": extra, "version": 0.4}


def _execution_order(graph: dict) -> dict[str, int]:
    depth: dict[str, int] = {}

    def visit(node_id: str) -> int:
        if node_id not in depth:
            depth[node_id] = 0
            parents = [v[0] for v in graph[node_id]["inputs"].values() if is_link(v)]
            depth[node_id] = 1 + max((visit(p) for p in parents), default=-1)
        return depth[node_id]

    ranked = sorted(graph, key=lambda n: (visit(n), int(n)))
    return {node_id: i for i, node_id in enumerate(ranked)}
