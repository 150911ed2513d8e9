"""TensorRT: a serialized engine run through pycuda, with its JSON build record beside it.

The engine's ``<engine>.json`` (``edgefusion build`` writes it) holds the model config, the
classes and the tensor contract, so the runner needs nothing else; it also names the TensorRT
version and GPU the engine is bound to, checked before the engine is deserialized.

Written against the documented Python APIs of TensorRT 8.6, 10.x and 11.x and pycuda; what
differs, and where it was read:

- I/O: TensorRT 10 removed the binding API; tensors are addressed by name (``num_io_tensors``,
  ``get_tensor_name``, ``get_tensor_mode``, ``get_tensor_dtype``, ``get_tensor_shape``,
  ``get_tensor_profile_shape(name, profile)``; on the context ``set_input_shape``,
  ``set_tensor_address`` and ``execute_async_v3(stream_handle)``). Below 10 the runner uses the
  binding API that JetPack 5's TensorRT 8.6 documents (``get_binding_index``,
  ``binding_is_input``, ``get_profile_shape(profile, binding)``, ``set_binding_shape``,
  ``execute_async_v2(bindings, stream_handle)``). Sources: NVIDIA/TensorRT
  ``samples/python/common_runtime.py`` and ``python/src/infer/pyCore.cpp``, polygraphy
  ``backend/trt/runner.py``, the 8.x-to-10.x Python migration guide; 11.x keeps the name-based API.
- Memory: pinned host buffers (``pycuda.driver.pagelocked_empty``) and device buffers
  (``mem_alloc``) sized once for the engine's largest batch, one stream; copies with
  ``memcpy_htod_async(dest, src, stream)`` / ``memcpy_dtoh_async(dest, src, stream)``, whose
  size is the host buffer's (pycuda ``doc/source/driver.rst``, ``src/wrapper/wrap_cudadrv.cpp``).
- Version-compatible engines need ``Runtime.engine_host_code_allowed = True`` (TensorRT 8.6+).
- CUDA graphs: pycuda's documented driver API has no stream capture, so capture uses cuda-python's runtime
  bindings (``cudaStreamBeginCapture``, ``cudaStreamEndCapture``, ``cudaGraphInstantiateWithFlags``
  (same signature in CUDA 11.4+ and 12, unlike ``cudaGraphInstantiate``), ``cudaGraphLaunch``),
  after one ordinary enqueue for the shape, as TensorRT requires before capture.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgefusion.artifact.contract import INPUTS, OUTPUTS, SHIFT_INPUT
from edgefusion.artifact.metadata import ArtifactMeta
from edgefusion.artifact.sidecar import check_sidecar, read_sidecar, sidecar_path
from edgefusion.config import MODALITIES_KEY, REFERENCE_KEY, ModelConfig
from edgefusion.errors import located
from edgefusion.runtime.runner import SPLIT_STAGES, Runner, RunnerError

TENSOR_API_FROM = 10  # TensorRT 10 removed the binding API; below it, bindings and execute_async_v2
PROFILE = 0  # edgefusion builds one optimization profile
CU_STREAM_NON_BLOCKING = 0x1  # CUDA driver API stream flag: no implicit sync with the legacy default stream
RECORD_KEYS = ("contract", "classes", "config")  # what the runner needs from the build record
UNKNOWN = "unknown"
NEEDS = (
    "an NVIDIA GPU with TensorRT and pycuda (on Jetson: JetPack's python3-libnvinfer and pycuda built there; "
    "elsewhere: pip install 'edgefusion[tensorrt]')"
)
TRT_MISSING = f"TensorRT is not installed: running a TensorRT engine needs {NEEDS}"
PYCUDA_MISSING = f"pycuda is not installed: running a TensorRT engine needs {NEEDS}"
CUDART_MISSING = (
    "CUDA graphs need cuda-python (pip install cuda-python, the major version of this CUDA; "
    "pycuda cannot capture streams): run without cuda_graph"
)
# TensorRT DataType names -> numpy. Not trt.nptype: older releases map BOOL to np.bool (gone
# since numpy 1.24) and lack UINT8, the video input's type.
NUMPY_TYPES = {
    "FLOAT": np.float32,
    "HALF": np.float16,
    "INT8": np.int8,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
    "UINT8": np.uint8,
}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def uses_tensor_api(trt_version: str) -> bool:
    """Whether TensorRT ``trt_version`` is driven by tensor name (10+) rather than by binding index."""
    try:
        major = int(str(trt_version).split(".")[0])
    except ValueError:
        return True
    return major >= TENSOR_API_FROM


def plan_chunks(total: int, lowest: int, highest: int) -> list[tuple[int, int, int]]:
    """``(start, stop, run_batch)`` runs covering ``total`` rows with an engine taking ``lowest..highest``.

    A batch above ``highest`` is split; a last chunk below ``lowest`` runs padded to ``lowest``
    (its extra rows are thrown away).
    """
    if not 1 <= lowest <= highest:
        raise ValueError(f"engine batch range {lowest}..{highest} is not 1 <= min <= max")
    plan = []
    for start in range(0, total, highest):
        stop = min(start + highest, total)
        plan.append((start, stop, max(stop - start, lowest)))
    return plan


def meta_from_record(record: dict[str, Any], engine_path: str | Path) -> ArtifactMeta:
    """The artifact metadata an engine's build record carries; one-line ``RunnerError`` if it lacks some."""
    where = sidecar_path(engine_path)
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise RunnerError(
            located(where, f"build record lacks {', '.join(missing)}: rebuild the engine with `edgefusion build`")
        )
    contract = record["contract"]
    try:
        names = {io: [t["name"] for t in contract if t["io"] == io] for io in ("in", "out")}
        shapes_ok = all(isinstance(t["shape"], list) and len(t["shape"]) >= 1 for t in contract)
    except (KeyError, TypeError):
        names, shapes_ok = {"in": [], "out": []}, False
    inputs_ok = sorted(names["in"]) in (sorted(INPUTS), sorted((*INPUTS, SHIFT_INPUT)))
    if not shapes_ok or not inputs_ok or not set(OUTPUTS) <= set(names["out"]):
        raise RunnerError(
            located(where, "build record's contract is not edgefusion's: rebuild the engine with `edgefusion build`")
        )
    config = ModelConfig.from_dict(record["config"], source=str(where))
    extra: dict[str, Any] = {
        "tensorrt": {k: record.get(k) for k in ("tensorrt_version", "gpu", "compute_capability", "batch")},
        "build": record.get("build"),
    }
    for key in ("calibration", REFERENCE_KEY, MODALITIES_KEY):
        if record.get(key) is not None:
            extra[key] = record[key]
    return ArtifactMeta(
        config=config,
        classes=list(record["classes"]),
        contract=list(contract),
        precision=str(record["precision"]),
        version=str(record.get("edgefusion_version", UNKNOWN)),
        extra=extra,
    )


def _import_tensorrt(path: Path) -> Any:
    try:
        import tensorrt
    except ModuleNotFoundError:
        raise RunnerError(located(path, TRT_MISSING)) from None
    except (ImportError, OSError) as e:  # the package is there but libnvinfer does not load
        raise RunnerError(located(path, f"TensorRT does not load ({_one_line(e)}); {TRT_MISSING}")) from None
    return tensorrt


def _import_pycuda(path: Path) -> Any:
    try:
        import pycuda.driver as cuda
    except ModuleNotFoundError:
        raise RunnerError(located(path, PYCUDA_MISSING)) from None
    except (ImportError, OSError) as e:  # pycuda built, but libcuda (the NVIDIA driver) is missing
        raise RunnerError(located(path, f"pycuda does not load ({_one_line(e)}); {PYCUDA_MISSING}")) from None
    return cuda


def import_cudart() -> Any:
    """cuda-python's CUDA runtime bindings (``cuda.bindings.runtime``, formerly ``cuda.cudart``)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            raise RunnerError(CUDART_MISSING) from None
    return cudart


def _numpy_dtype(trt_dtype: Any) -> np.dtype | None:
    name = str(getattr(trt_dtype, "name", trt_dtype)).rsplit(".", 1)[-1].upper()
    kind = NUMPY_TYPES.get(name)
    return np.dtype(kind) if kind is not None else None


# -- the two ways TensorRT names its inputs and outputs -----------------------------------


class _TensorIO:
    """TensorRT 10 and later: tensors by name, addresses bound once, ``execute_async_v3``."""

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self.trt, self.engine, self.context = trt, engine, context

    def available(self) -> list[str]:
        return [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]

    def is_input(self, name: str) -> bool:
        return self.engine.get_tensor_mode(name) == self.trt.TensorIOMode.INPUT

    def dtype(self, name: str) -> Any:
        return self.engine.get_tensor_dtype(name)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self.engine.get_tensor_shape(name))

    def batch_range(self, name: str) -> tuple[int, int]:
        low, _, high = self.engine.get_tensor_profile_shape(name, PROFILE)
        return int(low[0]), int(high[0])

    def bind(self, name: str, pointer: int) -> bool:
        return bool(self.context.set_tensor_address(name, pointer))

    def set_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        return bool(self.context.set_input_shape(name, shape))

    def enqueue(self, stream_handle: int) -> bool:
        return bool(self.context.execute_async_v3(stream_handle))


class _BindingIO:
    """TensorRT 8.x: binding indices, one pointer list, ``execute_async_v2`` (profile 0's bindings)."""

    def __init__(self, engine: Any, context: Any) -> None:
        self.engine, self.context = engine, context
        self.bindings = [0] * int(engine.num_bindings)

    def _index(self, name: str) -> int:
        return int(self.engine.get_binding_index(name))

    def available(self) -> list[str]:
        count = int(self.engine.num_bindings) // max(1, int(self.engine.num_optimization_profiles))
        return [self.engine.get_binding_name(i) for i in range(count)]

    def is_input(self, name: str) -> bool:
        return bool(self.engine.binding_is_input(self._index(name)))

    def dtype(self, name: str) -> Any:
        return self.engine.get_binding_dtype(self._index(name))

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self.engine.get_binding_shape(self._index(name)))

    def batch_range(self, name: str) -> tuple[int, int]:
        low, _, high = self.engine.get_profile_shape(PROFILE, self._index(name))
        return int(low[0]), int(high[0])

    def bind(self, name: str, pointer: int) -> bool:
        self.bindings[self._index(name)] = pointer
        return True

    def set_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        return bool(self.context.set_binding_shape(self._index(name), shape))

    def enqueue(self, stream_handle: int) -> bool:
        return bool(self.context.execute_async_v2(self.bindings, stream_handle))


@dataclass
class _Tensor:
    """One contract tensor: its type and per-row shape in the engine, and its two buffers."""

    name: str
    is_input: bool
    dtype: np.dtype
    dims: tuple[int, ...]  # the shape without the batch axis
    host: Any = None  # pinned numpy array [max batch, *dims]
    device: Any = None  # pycuda DeviceAllocation of the same size


class TensorRTRunner(Runner):
    backend = "tensorrt"

    def __init__(
        self,
        path: str | Path,
        cuda_graph: bool = False,
        device: int = 0,
        threads: int | None = None,
        split_timing: bool = False,
    ) -> None:
        """``cuda_graph`` replays one captured enqueue per batch size (needs cuda-python);
        ``device`` is the CUDA GPU index; ``threads`` is accepted for a uniform ``open_runner``
        and ignored (TensorRT runs on the GPU); ``split_timing`` records CUDA events around the
        copies and the compute of every call into ``last_split`` (for benchmarks)."""
        self.cuda_graph = cuda_graph
        self.split_timing = split_timing
        self.device = int(device)
        self.threads = threads
        self.record: dict[str, Any] = {}
        self._lock = threading.Lock()  # one execution context and one set of buffers serve every thread
        self._forget()
        super().__init__(path)

    def _forget(self) -> None:
        """Drop every handle of an active runner (after they are freed)."""
        self._trt: Any = None
        self._cuda: Any = None
        self._cudart: Any = None
        self._gpu_context: Any = None
        self._logger: Any = None
        self._runtime: Any = None
        self._engine: Any = None
        self._context: Any = None
        self._io: _TensorIO | _BindingIO | None = None
        self._stream: Any = None
        self._tensors: dict[str, _Tensor] = {}
        self._graphs: dict[int, tuple[Any, Any]] = {}  # run batch -> (graph, executable graph)
        self._events: list[Any] = []  # split_timing: before h2d, after h2d, after compute, after d2h
        self._lowest = self._highest = 1
        self._dynamic = False
        self._shape_batch = 0  # the batch the context's input shapes are set to (dynamic engines)

    # metadata ------------------------------------------------------------------------------
    def _read_meta(self) -> ArtifactMeta:
        if not self.path.is_file():
            raise RunnerError(
                located(self.path, f"no such engine: build one with `edgefusion build <model.onnx> -o {self.path}`")
            )
        self.record = read_sidecar(self.path)
        return meta_from_record(self.record, self.path)

    @property
    def description(self) -> str:
        version = ".".join(str(self.record.get("tensorrt_version", UNKNOWN)).split(".")[:2])
        details = [self.meta.precision, str(self.record.get("gpu", UNKNOWN))]
        if self.cuda_graph:
            details.append("CUDA graph")
        return f"tensorrt {version} ({', '.join(details)})"

    # lifecycle -----------------------------------------------------------------------------
    def _activate(self) -> None:
        trt = _import_tensorrt(self.path)
        cuda = _import_pycuda(self.path)
        cudart = import_cudart() if self.cuda_graph else None
        try:
            cuda.init()
            count = cuda.Device.count()
            if not 0 <= self.device < count:
                raise RunnerError(located(self.path, f"GPU {self.device} asked for, but CUDA sees {count} GPU(s)"))
            gpu = cuda.Device(self.device)
            name = str(gpu.name())
            major, minor = gpu.compute_capability()
        except cuda.Error as e:
            raise RunnerError(located(self.path, f"CUDA cannot open GPU {self.device} ({_one_line(e)})")) from None
        # before deserializing: an engine from another TensorRT or GPU fails there less clearly
        check_sidecar(self.record, self.path, str(trt.__version__), name, f"{major}.{minor}")
        data = self.path.read_bytes()
        expected = self.record.get("engine_sha256")
        if expected and hashlib.sha256(data).hexdigest() != expected:
            raise RunnerError(
                located(
                    self.path,
                    f"differs from the engine its build record {sidecar_path(self.path).name} describes: "
                    "rebuild it with `edgefusion build`",
                )
            )
        self._trt, self._cuda, self._cudart = trt, cuda, cudart
        # The device's primary context, not a new one from Device.make_context(): TensorRT,
        # cuda-python's runtime API and PyTorch all work in the primary context, so one context
        # serves them (a second costs its own GPU memory, which a Jetson shares with the CPU)
        # and pointers stay valid across them. A retained primary context is current nowhere
        # until pushed, while make_context() leaves the new context current on this thread only
        # and pycuda ties its cleanup to that thread. The context is pushed around every use
        # (here, each infer, deactivation) and popped after, so infer runs from any thread.
        self._gpu_context = gpu.retain_primary_context()
        self._gpu_context.push()
        try:
            self._open(data)
        except BaseException:
            self._free()  # what was made, while the context is still current
            self._gpu_context.pop()
            self._detach()
            self._forget()
            raise
        self._gpu_context.pop()

    def _open(self, data: bytes) -> None:
        trt, cuda = self._trt, self._cuda
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        build = self.record.get("build") if isinstance(self.record.get("build"), dict) else {}
        if build.get("version_compatible"):
            self._runtime.engine_host_code_allowed = True  # runs the lean runtime embedded in the engine
        self._engine = self._runtime.deserialize_cuda_engine(data)
        if self._engine is None:
            raise RunnerError(
                located(
                    self.path,
                    f"TensorRT {trt.__version__} cannot deserialize it (see TensorRT's messages above): "
                    "rebuild it with `edgefusion build`",
                )
            )
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise RunnerError(located(self.path, "TensorRT cannot create an execution context (out of GPU memory?)"))
        if uses_tensor_api(str(trt.__version__)):
            self._io = _TensorIO(trt, self._engine, self._context)
        else:
            self._io = _BindingIO(self._engine, self._context)
        self._resolve(self._io)
        self._stream = cuda.Stream(flags=CU_STREAM_NON_BLOCKING)
        for tensor in self._tensors.values():
            tensor.host = cuda.pagelocked_empty((self._highest, *tensor.dims), tensor.dtype)
            tensor.device = cuda.mem_alloc(max(1, tensor.host.nbytes))
            if not self._io.bind(tensor.name, int(tensor.device)):
                raise RunnerError(located(self.path, f"TensorRT refused the buffer of tensor {tensor.name}"))

    def _resolve(self, io: _TensorIO | _BindingIO) -> None:
        """Match the engine's tensors to the contract; find the batch range the engine takes."""
        available = io.available()
        missing = [t["name"] for t in self.meta.contract if t["name"] not in available]
        if missing:
            raise RunnerError(
                located(
                    self.path,
                    f"the engine lacks {', '.join(missing)} (it has {', '.join(available)}): "
                    "rebuild it from an ONNX that `edgefusion export` wrote",
                )
            )
        lows, highs = [], []
        for spec in self.meta.contract:
            name, is_input = spec["name"], spec["io"] == "in"
            if io.is_input(name) != is_input:
                raise RunnerError(
                    located(self.path, f"the engine's {name} is not an {spec['io']}put as the contract says")
                )
            dtype = _numpy_dtype(io.dtype(name))
            if dtype is None or (is_input and dtype != np.dtype(spec["dtype"])):
                raise RunnerError(
                    located(self.path, f"the engine takes {name} as {io.dtype(name)}, the contract as {spec['dtype']}")
                )
            shape = io.shape(name)
            dims = tuple(shape[1:])
            if list(dims) != list(spec["shape"][1:]):
                want = ", ".join(map(str, spec["shape"][1:]))
                raise RunnerError(
                    located(self.path, f"the engine's {name} has shape {list(shape)}, the contract [B, {want}]")
                )
            self._tensors[name] = _Tensor(name, is_input, dtype, dims)
            if not is_input:
                continue
            if shape[0] >= 0:
                lows.append(shape[0])
                highs.append(shape[0])
            else:
                self._dynamic = True
                low, high = io.batch_range(name)
                lows.append(low)
                highs.append(high)
        self._lowest, self._highest = max(lows), min(highs)
        if not 1 <= self._lowest <= self._highest:
            raise RunnerError(located(self.path, f"the engine's inputs take no common batch ({lows} to {highs})"))

    def _deactivate(self) -> None:
        with self._lock:
            if self._gpu_context is None:
                return
            self._gpu_context.push()
            try:
                if self._stream is not None:
                    self._stream.synchronize()
                self._free()
            finally:
                self._gpu_context.pop()
                self._detach()
                self._forget()

    def _free(self) -> None:
        """Free graphs, TensorRT objects, buffers and stream; the CUDA context must be current.

        pycuda frees device memory only while its context is current (inducer/pycuda#305), and
        TensorRT releases its own GPU memory when its objects go, so everything is dropped here
        explicitly rather than left to the garbage collector.
        """
        for graph, graph_exec in self._graphs.values():
            self._cudart.cudaGraphExecDestroy(graph_exec)
            self._cudart.cudaGraphDestroy(graph)
        self._graphs = {}
        self._events = []  # pycuda destroys an event when it is collected, context current
        self._io = None
        self._context = None  # execution context before the engine, engine before the runtime
        self._engine = None
        self._runtime = None
        for tensor in self._tensors.values():
            if tensor.device is not None:
                tensor.device.free()
            pinned = getattr(tensor.host, "base", None)
            if pinned is not None and hasattr(pinned, "free"):
                pinned.free()
            tensor.device = tensor.host = None
        self._tensors = {}
        self._stream = None

    def _detach(self) -> None:
        """Release this runner's hold on the primary context (after it was popped)."""
        # pycuda raises when the context was released already; then nothing is held
        with contextlib.suppress(self._cuda.Error):
            self._gpu_context.detach()

    # inference -----------------------------------------------------------------------------
    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        total = len(feed[INPUTS[0]])
        with self._lock:
            if self._gpu_context is None:
                raise RuntimeError("TensorRTRunner used after deactivate()")
            self._gpu_context.push()
            if self.split_timing:
                self.last_split = dict.fromkeys(SPLIT_STAGES, 0.0)
            try:
                parts = [
                    self._run_batch({k: v[start:stop] for k, v in feed.items()}, run)
                    for start, stop, run in plan_chunks(total, self._lowest, self._highest)
                ]
            finally:
                self._gpu_context.pop()
        if not parts:
            return {k: np.zeros((0, *self._row_dims(k)), dtype=np.float32) for k in self.outputs}
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in self.outputs}

    def _row_dims(self, name: str) -> tuple[int, ...]:
        spec = next(t for t in self.meta.contract if t["name"] == name)
        return tuple(int(d) for d in spec["shape"][1:])

    def _run_batch(self, feed: dict[str, np.ndarray], run: int) -> dict[str, np.ndarray]:
        """One enqueue of ``run`` rows: ``feed``'s rows, then copies of its last row as padding."""
        cuda, stream = self._cuda, self._stream
        rows = len(feed[INPUTS[0]])
        inputs = [t for t in self._tensors.values() if t.is_input]
        for tensor in inputs:
            tensor.host[:rows] = feed[tensor.name]
            if run > rows:
                tensor.host[rows:run] = feed[tensor.name][rows - 1]
        if self._dynamic and run != self._shape_batch:
            for tensor in inputs:
                if not self._io.set_shape(tensor.name, (run, *tensor.dims)):
                    raise RunnerError(located(self.path, f"TensorRT refused batch {run} for input {tensor.name}"))
            self._shape_batch = run
        self._mark(0)
        for tensor in inputs:
            cuda.memcpy_htod_async(tensor.device, tensor.host[:run], stream)
        self._mark(1)
        self._execute(run)
        self._mark(2)
        outputs = [self._tensors[name] for name in self.outputs]
        for tensor in outputs:
            cuda.memcpy_dtoh_async(tensor.host[:run], tensor.device, stream)
        self._mark(3)
        stream.synchronize()
        self._add_split()
        return {t.name: np.array(t.host[:rows], dtype=np.float32) for t in outputs}

    def _mark(self, index: int) -> None:
        """Record split-timing event ``index`` on the stream (when split timing is on)."""
        if self.split_timing:
            if not self._events:  # made lazily, in the context current for this call
                self._events = [self._cuda.Event() for _ in range(4)]
            self._events[index].record(self._stream)

    def _add_split(self) -> None:
        """Add this batch's stage times (ms, from the events recorded on the now idle stream)."""
        if not self.split_timing or self.last_split is None:
            return
        e = self._events
        for i, stage in enumerate(SPLIT_STAGES):  # events i and i + 1 bracket stage i
            self.last_split[stage] += float(e[i].time_till(e[i + 1]))

    def _execute(self, run: int) -> None:
        if self._cudart is None:
            self._enqueue()
            return
        captured = self._graphs.get(run)
        if captured is not None:
            self._check_cuda(self._cudart.cudaGraphLaunch(captured[1], self._stream.handle), "cudaGraphLaunch")
            return
        self._enqueue()  # the ordinary run TensorRT needs before capture; it also gives this call's outputs
        self._stream.synchronize()
        self._graphs[run] = self._capture()

    def _enqueue(self) -> None:
        if not self._io.enqueue(self._stream.handle):
            raise RunnerError(located(self.path, "TensorRT failed to run the engine (see TensorRT's messages above)"))

    def _capture(self) -> tuple[Any, Any]:
        """Record one enqueue on the stream as a CUDA graph (captured, not run)."""
        cudart, handle = self._cudart, self._stream.handle
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal  # other threads may use CUDA meanwhile
        self._check_cuda(cudart.cudaStreamBeginCapture(handle, mode), "cudaStreamBeginCapture")
        try:
            enqueued = self._io.enqueue(handle)
        except BaseException:
            cudart.cudaStreamEndCapture(handle)  # leave capture mode before giving up
            raise
        graph = self._check_cuda(cudart.cudaStreamEndCapture(handle), "cudaStreamEndCapture")
        if not enqueued:
            cudart.cudaGraphDestroy(graph)
            raise RunnerError(
                located(self.path, "TensorRT cannot enqueue this engine into a CUDA graph: run without cuda_graph")
            )
        try:
            graph_exec = self._check_cuda(cudart.cudaGraphInstantiateWithFlags(graph, 0), "cudaGraphInstantiate")
        except RunnerError:
            cudart.cudaGraphDestroy(graph)
            raise
        return graph, graph_exec

    def _check_cuda(self, result: Any, call: str) -> Any:
        """The value(s) after the error code of a cuda-python call; one-line ``RunnerError`` on failure."""
        error, *values = result if isinstance(result, tuple) else (result,)
        if error != self._cudart.cudaError_t.cudaSuccess:
            name = getattr(error, "name", str(error))
            raise RunnerError(located(self.path, f"{call} failed ({name}): run without cuda_graph"))
        if not values:
            return None
        return values[0] if len(values) == 1 else tuple(values)
