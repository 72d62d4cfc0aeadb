"""The same ONNX voice model in other number formats, and which one runs fastest on this CPU.

The embedded Kokoro (and hibari) ship dynamically quantized by ONNX Runtime (`quantize_dynamic`): int8 weights,
activations quantized at run time (DynamicQuantizeLinear → MatMulInteger / ConvInteger / DynamicQuantizeLSTM).
That is fast where the CPU has VNNI (int8 dot products) and slow where it has not. `dequantize` writes the float32
model those weights came from (each integer op back to its float op, weights = (q − zero point) × scale), `to_float16`
a float16 copy of that (ONNX Runtime's own converter), both once into a cache folder beside the source.
`fastest_variant` times int8 and fp32 once per machine (CPU model and flags, ONNX Runtime version and model file)
and remembers the choice in a small JSON file. fp32 holds more memory (Kokoro-82M: int8 88 MB, fp16 155 MB, fp32
310 MB of weights, each resident while the voice is loaded), so it is taken only when it is clearly faster (on a CPU
with VNNI the two ran within 15 % of each other, the order changing from run to run): a near tie goes to int8.
fp16 is never picked by itself — its activations overflow to NaN on some voices and lines — but can be forced.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Callable, Sequence

from .onnx_session import save_model

VARIANTS = ("int8", "fp32", "fp16")
MEASURED = ("int8", "fp32")  # the candidates fastest_variant times; fp16 only when forced (NaN on some voices)
BY_SIZE = ("int8", "fp16", "fp32")  # the weights' memory, smallest first
CLEARLY_FASTER = 1.15  # a bigger variant must take at most 1/1.15 of the time of the smaller one it replaces
CHOICE_RULE = "int8-unless-fp32-15%-faster"  # part of the remembered choice's key
VARIANT_ENV = "TOONGEN_KOKORO_VARIANT"  # force one: int8, fp32 or fp16 (else int8 or fp32, measured here)


def cpu_flags() -> list[str]:
    """The CPU's SIMD flags that matter for ONNX Runtime (avx2, avx512*, vnni, amx, f16c, fma …)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = line.split(":", 1)[1].split()
            return sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "f16c")) or "vnni" in f)
    return []


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _tag(source: Path, what: str) -> str:
    stat = source.stat()
    return hashlib.sha256(f"{source.name}|{stat.st_size}|{stat.st_mtime_ns}|{what}".encode()).hexdigest()[:12]


class _Graph:
    """Index of a graph: initializers by name, each value's producer and consumers."""

    def __init__(self, graph):
        self.graph = graph
        self.inits = {i.name: i for i in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def array(self, name: str):
        from onnx import numpy_helper

        return numpy_helper.to_array(self.inits[name])

    def only_consumer(self, value: str, op_type: str):
        users = self.consumers.get(value, [])
        if len(users) != 1 or users[0].op_type != op_type:
            raise ValueError(f"unexpected quantized pattern after {value}")
        return users[0]

    def float_input(self, quantized: str) -> str:
        """The float value a DynamicQuantizeLinear made `quantized` from."""
        node = self.producer.get(quantized)
        if node is None or node.op_type != "DynamicQuantizeLinear":
            raise ValueError(f"{quantized} is not a dynamically quantized activation")
        return node.input[0]

    def weight_scale(self, scales_mul: str, activation_scale: str) -> str:
        """`scales_mul` = activation scale × weight scale: the weight scale's initializer name."""
        node = self.producer[scales_mul]
        if node.op_type != "Mul":
            raise ValueError(f"unexpected scale product {scales_mul}")
        other = [name for name in node.input if name != activation_scale]
        if len(other) != 1 or other[0] not in self.inits:
            raise ValueError(f"unexpected scale product {scales_mul}")
        return other[0]


def _dequantized(g: _Graph, weight: str, zero_point: str, scale: str, channel_axis: int):
    import numpy as np

    q = g.array(weight).astype(np.float32)
    zp = g.array(zero_point).astype(np.float32)
    s = g.array(scale).astype(np.float32)
    if zp.ndim == 1 and zp.size > 1:  # per channel
        shape = [1] * q.ndim
        shape[channel_axis] = zp.size
        zp, s = zp.reshape(shape), s.reshape(shape)
    return ((q - zp) * s).astype(np.float32)


def dequantize_model(proto) -> None:
    """Rewrite a `quantize_dynamic` graph in place into float32 ops with float32 weights."""
    import numpy as np
    from onnx import helper, numpy_helper

    g = _Graph(proto.graph)
    new_inits: dict[str, object] = {}  # one float copy per integer weight, however many ops share it
    drop, add = set(), []

    def float_weight(q: str, zero_point: str, scale: str, channel_axis: int, transpose: bool = False) -> str:
        name = f"{q}_fp32_{scale}"
        if name not in new_inits:
            weight = _dequantized(g, q, zero_point, scale, channel_axis)
            if transpose:
                weight = np.ascontiguousarray(weight.transpose(0, 2, 1))
            new_inits[name] = numpy_helper.from_array(weight, name)
        return name

    for node in list(proto.graph.node):
        if node.op_type == "MatMulInteger" and node.input[1] in g.inits:
            # MatMulInteger(a_q, W_q, a_zp, W_zp) → Cast → Mul(a_scale × W_scale)
            cast = g.only_consumer(node.output[0], "Cast")
            mul = g.only_consumer(cast.output[0], "Mul")
            activation = node.input[0]
            a_scale = g.producer[activation].output[1]
            product = next(name for name in mul.input if name != cast.output[0])
            name = float_weight(node.input[1], node.input[3], g.weight_scale(product, a_scale), channel_axis=1)
            add.append(helper.make_node("MatMul", [g.float_input(activation), name], [mul.output[0]],
                                        name=(node.name or node.output[0]) + "_fp32"))
            drop.update(id(n) for n in (node, cast, mul))
        elif node.op_type == "ConvInteger" and node.input[1] in g.inits:
            # ConvInteger(x_q, W_q, x_zp, W_zp) → Add(bias quantized at run time) → Cast → Mul(x_scale × W_scale)
            nxt = g.consumers[node.output[0]]
            bias = None
            chain = [node]
            if len(nxt) == 1 and nxt[0].op_type == "Add":
                add_node = nxt[0]
                chain.append(add_node)
                bias = _float_bias(g, next(i for i in add_node.input if i != node.output[0]))
                cast = g.only_consumer(add_node.output[0], "Cast")
            else:
                cast = g.only_consumer(node.output[0], "Cast")
            mul = g.only_consumer(cast.output[0], "Mul")
            chain += [cast, mul]
            activation = node.input[0]
            a_scale = g.producer[activation].output[1]
            product = next(name for name in mul.input if name != cast.output[0])
            zero_point = node.input[3] if len(node.input) > 3 and node.input[3] else None
            weight_scale = g.weight_scale(product, a_scale)
            if zero_point is None:
                raise ValueError(f"{node.name}: ConvInteger without a weight zero point")
            name = float_weight(node.input[1], zero_point, weight_scale, channel_axis=0)
            inputs = [g.float_input(activation), name] + ([bias] if bias else [])
            conv = helper.make_node("Conv", inputs, [mul.output[0]], name=(node.name or node.output[0]) + "_fp32")
            conv.attribute.extend(node.attribute)
            add.append(conv)
            drop.update(id(n) for n in chain)
        elif node.op_type == "DynamicQuantizeLSTM":
            # Its W, R are int8 and transposed ([dirs, in, 4h]); ONNX LSTM wants float [dirs, 4h, in].
            x, w, r, b, seq, h0, c0, p, w_scale, w_zp, r_scale, r_zp = (list(node.input) + [""] * 12)[:12]
            weights = [float_weight(q, zp, scale, 0, transpose=True) for q, scale, zp in ((w, w_scale, w_zp), (r, r_scale, r_zp))]
            inputs = [x, *weights, b, seq, h0, c0, p]
            while inputs and not inputs[-1]:
                inputs.pop()
            lstm = helper.make_node("LSTM", inputs, list(node.output), name=(node.name or node.output[0]) + "_fp32")
            lstm.attribute.extend(node.attribute)
            add.append(lstm)
            drop.add(id(node))
    # Put each new node where the one it replaces was (the graph stays topologically sorted).
    by_output = {n.output[0]: n for n in add}
    ordered = []
    for node in proto.graph.node:
        if id(node) in drop:
            for out in node.output:
                if out in by_output:
                    ordered.append(by_output.pop(out))
        else:
            ordered.append(node)
    ordered.extend(by_output.values())
    del proto.graph.node[:]
    proto.graph.node.extend(ordered)
    proto.graph.initializer.extend(new_inits.values())
    _remove_dead(proto)


def _float_bias(g: _Graph, quantized_bias: str) -> str:
    """Follow Reshape ← Cast ← Floor ← Div(bias, scale product) back to the float bias initializer."""
    name = quantized_bias
    for _ in range(6):
        node = g.producer.get(name)
        if node is None:
            break
        if node.op_type == "Div" and node.input[0] in g.inits:
            return node.input[0]
        name = node.input[0]
    raise ValueError(f"cannot find the float bias behind {quantized_bias}")


def _remove_dead(proto) -> None:
    """Drop nodes and initializers nothing uses any more (the activation quantizers, the integer weights)."""
    graph = proto.graph
    needed = {o.name for o in graph.output}
    alive = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output) or not node.output:
            alive.append(node)
            needed.update(i for i in node.input if i)
            for attr in node.attribute:  # subgraphs (If/Loop) read outer values
                for sub in ([attr.g] if attr.g.node else []) + list(attr.graphs):
                    needed.update(i for n in sub.node for i in n.input)
    alive.reverse()
    del graph.node[:]
    graph.node.extend(alive)
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def dequantize(source: Path, folder: Path | None = None) -> Path:
    """`source` (a quantize_dynamic model) as float32, written once into `folder` (default: beside it)."""
    source = Path(source)
    target = (folder or source.parent) / f"{source.stem}.fp32-{_tag(source, 'fp32')}.onnx"
    if target.is_file():
        return target
    import onnx

    proto = onnx.load(str(source))
    dequantize_model(proto)
    return save_model(proto, target)


def to_float16(source: Path, folder: Path | None = None, keep_float32: Sequence[str] = ()) -> Path:
    """`source` (float32) with float16 weights and math, float32 inputs and outputs (ONNX Runtime's converter),
    written once. Ops listed in `keep_float32` stay float32."""
    source = Path(source)
    target = (folder or source.parent) / f"{source.stem}.fp16-{_tag(source, 'fp16')}.onnx"
    if target.is_file():
        return target
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    proto = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True, disable_shape_infer=True,
                                     op_block_list=list(keep_float32) or None)
    return save_model(proto, target)


def _choice_key(model: Path) -> str:
    import onnxruntime

    stat = Path(model).stat()
    return "|".join([cpu_name(), " ".join(cpu_flags()), str(os.cpu_count()), onnxruntime.__version__,
                     Path(model).name, str(stat.st_size), CHOICE_RULE])


def choose_variant(seconds: dict[str, float]) -> str:
    """The fastest variant, except that a near tie goes to the one with the smaller weights: going up in size
    (int8 → fp16 → fp32), a bigger variant replaces the choice only when it is CLEARLY_FASTER than it."""
    usable = [v for v in BY_SIZE if seconds.get(v, float("inf")) != float("inf")]
    if not usable:
        raise RuntimeError("no variant of the model runs here")
    choice = usable[0]
    for variant in usable[1:]:
        if seconds[variant] * CLEARLY_FASTER <= seconds[choice]:
            choice = variant
    return choice


def fastest_variant(model: Path, measure: Callable[[str], float], record: Path) -> str:
    """The variant to run: `choose_variant` over the MEASURED ones (`measure(variant)` in seconds), measured once
    per machine and remembered in `record`; $TOONGEN_KOKORO_VARIANT forces any of VARIANTS. A variant that fails to
    build or run is skipped."""
    forced = os.environ.get(VARIANT_ENV, "").strip().lower()
    if forced in VARIANTS:
        return forced
    key = _choice_key(model)
    try:
        known = json.loads(Path(record).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and isinstance(known.get(key), dict) and known[key].get("variant") in VARIANTS:
        return known[key]["variant"]
    timings: dict[str, float] = {}
    for variant in MEASURED:
        try:
            timings[variant] = measure(variant)
        except Exception as exc:  # e.g. no integer kernels: just not a candidate
            timings[variant] = float("inf")
            import logging

            logging.getLogger("ToonGen").warning("ToonGen: Kokoro %s variant unusable here: %s", variant, exc)
    best = choose_variant(timings)
    known = known if isinstance(known, dict) else {}
    known[key] = {"variant": best, "seconds": {k: (round(v, 4) if v != float("inf") else None) for k, v in timings.items()},
                  "measured": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(record).parent.mkdir(parents=True, exist_ok=True)
    partial = Path(record).with_name(Path(record).name + f".{os.getpid()}.partial")
    partial.write_text(json.dumps(known, indent=1), encoding="utf-8")
    os.replace(partial, record)
    return best


MODEL_CACHE_ENV = "TOONGEN_MODEL_CACHE"


def derived_models_dir() -> Path:
    """Where model copies ToonGen derives (extra outputs, other number formats) go when the source lies in a
    package folder that should not be written: $TOONGEN_MODEL_CACHE, else ~/.cache/toongen-models."""
    override = os.environ.get(MODEL_CACHE_ENV)
    return Path(override) if override else Path.home() / ".cache" / "toongen-models"
