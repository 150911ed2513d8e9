"""Which ONNX operators TensorRT's ONNX parser imports, per TensorRT release.

The table below is kept in code so ``edgefusion`` can check a graph on a machine with no
TensorRT at all. Its source is onnx-tensorrt's ``docs/operators.md`` (one per release branch)
and ``docs/Changelog.md``, as stored in the public index this project's authors could read:

- ``"8.6"``: ``docs/operators.md`` of repo onnx/onnx-tensorrt at commit 6d0ab7be (the 8.5 GA
  table, "TensorRT 8.5 supports operators up to Opset 17"), plus the "TensorRT 8.6 EA/GA
  Release" entries of ``docs/Changelog.md`` (8.6 EA added ``GroupNormalization``,
  ``LayerNormalization`` and ``IsInf``; 8.6 GA N-D ``Trilu``). The release/8.6-GA copy of
  operators.md itself was not readable, so 8.6-only restrictions may be missing.
- ``"10.15"`` (the newest 10.x table found): ``docs/operators.md`` headed "TensorRT 10.15
  supports operators in the inclusive range of opset 9 to opset 24". NVIDIA's 10.x release
  notes list 10.16 too, but no 10.16 operator table was readable.
- ``"10.3"`` (JetPack 6): the release/10.3-GA table was not readable either; the column is the
  10.15 table with every op change the Changelog lists for 10.4 to 10.15 undone: 10.4 added
  ``BlackmanWindow``/``HammingWindow``/``HannWindow`` and tensor ``axes`` for ``Pad``; 10.5
  real-valued ``STFT``; 10.7 dynamic ``axes`` for ``Squeeze``/``Unsqueeze``; 10.8 dynamic
  ``CumSum`` axes; 10.12 ellipses, diagonals and broadcasting in ``Einsum``. The 10.3 entry
  itself: tensor ``axes`` inputs for ``Slice``.
- ``"11"``: no TensorRT 11 operators.md was found. NVIDIA's 11.x "ONNX Opset Guide"
  (docs.nvidia.com/deeplearning/tensorrt/latest/reference/onnx-opset-guide.html) gives only
  the opset range (up to 25) and points at operators.md, so the column repeats the 10.15
  table, each row saying so in its note.

The ORT-only quantized ops (``QLinearConv``, ``QLinearMatMul``, ``ConvInteger``,
``MatMulInteger``, ``DynamicQuantizeLinear``) are "N" in every table: TensorRT takes INT8
only as QuantizeLinear/DequantizeLinear pairs. Nodes in any other domain than ONNX's default
one (e.g. ``com.microsoft``) have no importer and count as unsupported here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import onnx

from edgefusion.errors import EdgefusionError

TRT_VERSIONS: tuple[str, ...] = ("8.6", "10.3", "10.15", "11")
NEWEST_10 = "10.15"
DOCUMENTED = ("8.6", "10.3", "10.15")  # columns with a table of their own; "11" repeats NEWEST_10
ASSUMED_NOTE = f"{NEWEST_10} list assumed: no TensorRT 11 operator list found"
NOT_LISTED = "not in the onnx-tensorrt operator list"
DEFAULT_DOMAINS = ("", "ai.onnx")
FORBIDDEN = ("STFT", "DFT")  # the front end must be convolutions and MatMuls over DFT bases (docs/architecture.md)
# TensorRT's ONNX parser inlines model-local functions from 9.0 EA on (Changelog)
LOCAL_FUNCTIONS_FROM = 9

SUPPORTED = "supported"
PARTIAL = "partial"
UNSUPPORTED = "unsupported"
UNKNOWN = "unknown"
PASSING = (SUPPORTED, PARTIAL)


@dataclass(frozen=True)
class OpSupport:
    """One op on one TensorRT version: ``status`` is supported, partial, unsupported or unknown."""

    op: str
    version: str
    status: str
    note: str = ""

    @property
    def ok(self) -> bool:
        """True when the parser imports the op (partial: within the restriction in ``note``)."""
        return self.status in PASSING


Cell = tuple[str, str]  # (status, note)


def _y(note: str = "") -> Cell:
    return (SUPPORTED, note)


def _p(note: str) -> Cell:
    return (PARTIAL, note)


def _n(note: str = "") -> Cell:
    return (UNSUPPORTED, note)


def _all(cell: Cell) -> tuple[Cell, Cell, Cell]:
    return (cell, cell, cell)


_RESIZE_8 = (
    "modes nearest and linear only (no cubic); coordinate transformation modes half_pixel, "
    "pytorch_half_pixel, tf_half_pixel_for_nn, asymmetric, align_corners; nearest modes floor, ceil, "
    "round_prefer_floor, round_prefer_ceil"
)
_RESIZE_10 = _RESIZE_8 + (
    "; aspect ratio policy stretch only; no antialiasing; with a tensor `scales` input, `axes` must be "
    "0..rank-1 in order"
)
_REDUCE_10 = "`axes` must be an initializer"
_POOL_8 = "2D or 3D pooling only"
_POOL_10 = "2D or 3D pooling only; `dilations` must be empty or all ones"
_ORT_ONLY = "ONNX Runtime quantized op: TensorRT takes INT8 only as QuantizeLinear/DequantizeLinear pairs"

# op -> (8.6, 10.3, 10.15) cells, from the sources in the module docstring
_TABLE: dict[str, tuple[Cell, Cell, Cell]] = {
    "Abs": _all(_y()),
    "Add": _all(_y()),
    "And": _all(_y("BOOL")),
    "ArgMax": _all(_y()),
    "AveragePool": (_p(_POOL_8), _p(_POOL_10), _p(_POOL_10)),
    "BatchNormalization": _all(_y()),
    "Cast": _all(_y()),
    "Ceil": _all(_y()),
    "Clip": _all(_y()),
    "Concat": _all(_y()),
    "Constant": (
        _y(),
        _p("`sparse_value`, `value_string` and `value_strings` attributes unsupported"),
        _p("`sparse_value`, `value_string` and `value_strings` attributes unsupported"),
    ),
    "ConstantOfShape": _all(_y()),
    "Conv": _all(_y()),
    "ConvInteger": _all(_n(_ORT_ONLY)),
    "ConvTranspose": _all(_y()),
    "Cos": _all(_y()),
    "CumSum": (
        _p("`axis` must be an initializer"),
        _p("`axis` must be an initializer (dynamic axes from 10.8)"),
        _p("`axis` must be a build-time constant"),
    ),
    "DFT": _all(_n()),
    "DequantizeLinear": (
        _p("`x_zero_point` must be zero; INT8 only"),
        _p("`x_zero_point` must be zero"),
        _p("`x_zero_point` must be zero"),
    ),
    "Div": _all(_y()),
    "Dropout": (
        _y(),
        _p("`is_training` must be an initializer and evaluate to False"),
        _p("`is_training` must be an initializer and evaluate to False"),
    ),
    "DynamicQuantizeLinear": (
        _n(_ORT_ONLY),
        _n(_ORT_ONLY),
        _n(_ORT_ONLY + "; IDynamicQuantize can be reached through a model-local function"),
    ),
    "Einsum": (
        _p("no ellipsis or diagonal operations; no broadcasting between inputs"),
        _p("no ellipsis or diagonal operations; no broadcasting between inputs (added in 10.12)"),
        _y(),
    ),
    "Elu": _all(_y()),
    "Equal": _all(_y()),
    "Erf": _all(_y()),
    "Exp": _all(_y()),
    "Expand": _all(_y()),
    "Flatten": _all(_y()),
    "Floor": _all(_y()),
    "Gather": _all(_y()),
    "GatherElements": _all(_y()),
    "Gemm": _all(_y()),
    "GlobalAveragePool": _all(_y()),
    "Greater": _all(_y()),
    "GreaterOrEqual": _all(_y()),
    "GroupNormalization": (_y("added in 8.6 EA (Changelog)"), _y(), _y()),
    "HannWindow": (_n(), _n("added in 10.4"), _y("FP32, FP16")),
    "HardSigmoid": _all(_y()),
    "HardSwish": _all(_y()),
    "Identity": _all(_y()),
    "LayerNormalization": (
        _y("added in 8.6 EA (Changelog); restrictions of the 8.6 table not read"),
        _p("only the first output `Y` is supported"),
        _p("only the first output `Y` is supported"),
    ),
    "LeakyRelu": _all(_y()),
    "Less": _all(_y()),
    "LessOrEqual": _all(_y()),
    "Log": _all(_y()),
    "LogSoftmax": _all(_y()),
    "MatMul": _all(_y()),
    "MatMulInteger": _all(_n(_ORT_ONLY)),
    "Max": _all(_y()),
    "MaxPool": (
        _p(_POOL_8 + "; `Indices` output unsupported"),
        _p(_POOL_10 + "; `Indices` output unsupported"),
        _p(_POOL_10 + "; `Indices` output unsupported"),
    ),
    "MelWeightMatrix": _all(_n()),
    "Min": _all(_y()),
    "Mod": _all(_y()),
    "Mul": _all(_y()),
    "Neg": _all(_y()),
    "Not": _all(_y("BOOL")),
    "Or": _all(_y("BOOL")),
    "Pad": (_y(), _p("`axes` must be constant (tensor axes from 10.4)"), _y()),
    "Pow": _all(_y()),
    "PRelu": _all(_y()),
    "QLinearConv": _all(_n(_ORT_ONLY)),
    "QLinearMatMul": _all(_n(_ORT_ONLY)),
    "QuantizeLinear": _all(_p("`y_zero_point` must be 0")),
    "Range": _all(_y()),
    "Reciprocal": _all(_y()),
    "ReduceL2": (_y(), _p(_REDUCE_10), _p(_REDUCE_10)),
    "ReduceMax": (_y(), _p(_REDUCE_10), _p(_REDUCE_10)),
    "ReduceMean": (_y(), _p(_REDUCE_10), _p(_REDUCE_10)),
    "ReduceMin": (_y(), _p(_REDUCE_10), _p(_REDUCE_10)),
    "ReduceSum": (_y(), _p(_REDUCE_10), _p(_REDUCE_10)),
    "Relu": _all(_y()),
    "Reshape": _all(_y()),
    "Resize": (_p(_RESIZE_8), _p(_RESIZE_10), _p(_RESIZE_10)),
    "Round": _all(_y()),
    "STFT": (
        _n(),
        _n("real-valued STFT added in 10.5"),
        _p("FP32 only; `frame_step` and `window` must be initializers; input must be real-valued"),
    ),
    "Shape": _all(_y()),
    "Sigmoid": _all(_y()),
    "Sign": _all(_y()),
    "Sin": _all(_y()),
    "Slice": (_p("`axes` must be an initializer"), _y("tensor `axes` inputs added in 10.3"), _y()),
    "Softmax": _all(_y()),
    "Softplus": _all(_y()),
    "Split": _all(_y()),
    "Sqrt": _all(_y()),
    "Squeeze": (
        _p("`axes` must be an initializer"),
        _p("`axes` must be an initializer (dynamic axes from 10.7)"),
        _p("`axes` must be resolvable to a constant"),
    ),
    "Sub": _all(_y()),
    "Sum": _all(_y()),
    "Tanh": _all(_y()),
    "Tile": _all(_y()),
    "Transpose": _all(_y()),
    "Trilu": _all(_y()),
    "Unsqueeze": (
        _p("`axes` must be a constant tensor"),
        _p("`axes` must be a constant tensor (dynamic axes from 10.7)"),
        _p("`axes` must be resolvable to a constant"),
    ),
    "Upsample": _all(_y()),
    "Where": _all(_y()),
}

_VERSION_RE = re.compile(r"^\s*(?:tensorrt\s*|trt\s*|v)?(\d+)(?:\.(\d+))?(?:\.\d+){0,2}\s*$", re.IGNORECASE)


class UnknownVersionError(EdgefusionError):
    """A TensorRT version the op table has no column for."""


def normalize_version(text: str) -> str:
    """Map "10.3", "10.3.0", "10.3.0.30", "8.6.1", "11.2" or a bare major ("10") to a column key.

    A bare major means the newest table of that major ("10" -> "10.15"). Every 11.x maps to
    "11". Other minors are refused rather than guessed: their tables differ (STFT, windows).
    """
    match = _VERSION_RE.match(str(text))
    if match is not None:
        major, minor = match.group(1), match.group(2)
        if major == "11":
            return "11"
        candidates = [v for v in DOCUMENTED if v.split(".")[0] == major]
        if candidates and minor is None:
            return candidates[-1]
        key = f"{major}.{int(minor)}" if minor is not None else ""
        if key in DOCUMENTED:
            return key
    raise UnknownVersionError(
        f"unknown TensorRT version {text!r}: the op table knows {', '.join(TRT_VERSIONS)} (or 8, 10, 11)"
    )


def support(op: str, version: str) -> OpSupport:
    """How TensorRT ``version`` imports the default-domain ONNX op ``op``."""
    key = normalize_version(version)
    cells = _TABLE.get(op)
    if cells is None:
        return OpSupport(op, key, UNKNOWN, NOT_LISTED)
    if key == "11":
        status, note = cells[DOCUMENTED.index(NEWEST_10)]
        return OpSupport(op, key, status, f"{note}; {ASSUMED_NOTE}" if note else ASSUMED_NOTE)
    status, note = cells[DOCUMENTED.index(key)]
    return OpSupport(op, key, status, note)


def _walk(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node of ``graph`` and of the subgraphs in its If/Loop/Scan attributes."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _walk(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _walk(sub)


def _op_types(model: onnx.ModelProto, expand_functions: bool) -> Counter[tuple[str, str]]:
    """(domain, op_type) -> count over the graph; calls of model-local functions are expanded
    into their bodies when ``expand_functions`` (the parser inlines them), else kept as calls."""
    functions = {(f.domain, f.name): f for f in model.functions}
    counts: Counter[tuple[str, str]] = Counter()

    def visit(nodes: Iterator[onnx.NodeProto], seen: frozenset[tuple[str, str]]) -> None:
        for node in nodes:
            key = (node.domain, node.op_type)
            function = functions.get(key)
            if expand_functions and function is not None and key not in seen:
                visit(iter(function.node), seen | {key})
                continue
            counts[("" if node.domain in DEFAULT_DOMAINS else node.domain, node.op_type)] += 1

    visit(_walk(model.graph), frozenset())
    return counts


def _row(domain: str, op: str, version: str) -> OpSupport:
    if domain:
        return OpSupport(
            f"{domain}::{op}", version, UNSUPPORTED, f"custom domain {domain}: TensorRT's parser has no importer"
        )
    return support(op, version)


def _expands_functions(key: str) -> bool:
    return int(key.split(".")[0]) >= LOCAL_FUNCTIONS_FROM


def check_graph(model: onnx.ModelProto, version: str) -> list[OpSupport]:
    """One row per op type in ``model`` (sorted by name) for TensorRT ``version``.

    Only ONNX's default domain ("" or "ai.onnx") is looked up; any other domain is unsupported.
    A graph passes when every row is ``ok``.
    """
    key = normalize_version(version)
    counts = _op_types(model, _expands_functions(key))
    return [_row(domain, op, key) for domain, op in sorted(counts, key=lambda k: (k[1], k[0]))]


def op_table(model: onnx.ModelProto) -> list[dict[str, str | int]]:
    """Rows for a table print: "op", "count", one status column per ``TRT_VERSIONS`` key, "notes".

    A cell is "-" where the op does not occur for that version (a model-local function is one
    op on 8.6, which cannot inline it, and its body's ops from 10 on). Notes name the versions
    they hold for; the "11" column repeats 10.15 (see the module docstring), so its notes are not
    repeated.
    """
    rows: dict[str, dict[str, str | int]] = {}
    notes: dict[str, dict[str, list[str]]] = {}
    for version in TRT_VERSIONS:
        for (domain, op), count in _op_types(model, _expands_functions(version)).items():
            entry = _row(domain, op, version)
            row = rows.setdefault(entry.op, {"op": entry.op, "count": count})
            row[version] = entry.status
            if entry.note and version in DOCUMENTED:
                notes.setdefault(entry.op, {}).setdefault(entry.note, []).append(version)
    table = []
    for name in sorted(rows):
        row = rows[name]
        for version in TRT_VERSIONS:
            row.setdefault(version, "-")
        row["notes"] = "; ".join(f"{', '.join(v)}: {note}" for note, v in notes.get(name, {}).items())
        table.append(row)
    return table


def forbidden_ops(model: onnx.ModelProto) -> list[str]:
    """The ops of ``FORBIDDEN`` (STFT, DFT) present anywhere in the graph, sorted."""
    present = {op for (domain, op) in _op_types(model, expand_functions=True) if not domain}
    return sorted(present & set(FORBIDDEN))
