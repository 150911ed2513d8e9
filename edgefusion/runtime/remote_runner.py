"""A runner whose model runs on a Triton Inference Server: ``with RemoteRunner(art, server): r.infer(feed)``.

The device keeps everything but the network: capture, the face stage, the VAD, smoothing and
speaker adaptation stay in the pipeline, and each window goes to the server over gRPC
(``tritonclient``). The local artifact gives the contract (window, frames, classes, reference);
on entry the runner checks that the server's model takes and gives the same tensors.

A server that goes away mid-run costs hops, not the run: ``infer`` raises ``ServerUnavailable``,
which the pipeline counts as a lost hop, and the next hop tries again. The gRPC channel
reconnects on its own, its back-off capped at ``RECONNECT_MS`` so that a server that comes back
is found within about a second.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgefusion.artifact.contract import TRITON_DATATYPES
from edgefusion.artifact.metadata import ArtifactMeta
from edgefusion.errors import EdgefusionError
from edgefusion.runtime.runner import Runner, RunnerError, ServerUnavailable, open_runner

if TYPE_CHECKING:
    from tritonclient.utils import InferenceServerException

SCHEMES = ("grpc",)
DEFAULT_GRPC_PORT = 8001
RECONNECT_MS = 1000  # the longest the gRPC channel waits between tries to reach a server that went away
DEFAULT_TIMEOUT = 1.0  # seconds a request may take before its hop counts as lost
MAX_MESSAGE = 64 * 1024 * 1024  # gRPC's default 4 MB would stop a large batch of video windows
URI_HELP = "give grpc://HOST:PORT, e.g. grpc://localhost:8001"


@dataclass(frozen=True)
class ServerUri:
    host: str
    port: int

    def __str__(self) -> str:
        return f"grpc://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_server(text: str) -> ServerUri:
    """``grpc://HOST[:PORT]`` -> ``ServerUri``; anything else is a one-line ``EdgefusionError``."""
    scheme, sep, rest = text.strip().partition("://")
    if not sep:
        raise EdgefusionError(f"--server {text!r}: not a server URI: {URI_HELP}")
    if scheme.lower() not in SCHEMES:
        raise EdgefusionError(f"--server {text!r}: scheme {scheme!r} is not served here (gRPC only): {URI_HELP}")
    m = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+)(?::(\d+))?/?", rest)
    if m is None:
        raise EdgefusionError(f"--server {text!r}: cannot read a host and port in {rest!r}: {URI_HELP}")
    port = int(m.group(2)) if m.group(2) else DEFAULT_GRPC_PORT
    if not 0 < port < 65536:
        raise EdgefusionError(f"--server {text!r}: port {port} is not between 1 and 65535")
    return ServerUri(m.group(1), port)


def check_server(uri: str | None, backend: str | None, cuda_graph: bool, wait: float) -> ServerUri | None:
    """The parsed ``--server``, or None; refuse in one line what a remote model cannot honour."""
    if uri is None:
        if wait:
            raise EdgefusionError("--wait retries a --server at the start: give --server grpc://HOST:PORT")
        return None
    server = parse_server(uri)
    if backend is not None or cuda_graph:
        what = "--backend" if backend is not None else "--cuda-graph"
        raise EdgefusionError(f"{what} chooses how this machine runs the model, and --server runs it on {server}")
    if wait < 0:
        raise EdgefusionError(f"--wait must be 0 or more seconds, got {wait:g}")
    return server


def model_name_for(path: str | Path) -> str:
    """The name ``edgefusion serve`` gives an artifact: its file name without the suffix, in Triton's alphabet."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem) or "model"


def _first_line(e: InferenceServerException) -> str:
    """tritonclient's message without its status prefix, on one line."""
    return " ".join((e.message() or str(e)).split()) or type(e).__name__


class RemoteRunner(Runner):
    """The artifact at ``path`` (for its contract) run by the model ``model`` of a Triton server.

    ``model`` None: the name ``edgefusion serve`` gives the artifact (its file name less the
    suffix). ``wait``: seconds to keep trying a server that does not answer at the start (0: fail
    at once). ``timeout``: seconds per request.
    """

    backend = "triton"

    def __init__(
        self,
        path: str | Path,
        server: ServerUri,
        model: str | None = None,
        wait: float = 0.0,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.server, self.model, self.wait, self.timeout = server, model, wait, timeout
        self.client: Any = None
        self.max_batch = 0  # the server's largest batch; 0: a model without batching, its batch fixed:
        self.fixed_batch = 1  # the rows every request to such a model carries
        self.failures = 0  # requests the server did not answer
        self.recoveries = 0  # times it answered again after failing
        self.last_failure = ""  # why the last request failed
        self._failing = False
        super().__init__(path)

    def _read_meta(self) -> ArtifactMeta:
        return open_runner(self.path).meta  # reads the metadata, loads nothing

    @property
    def description(self) -> str:
        return f"triton {self.model} at {self.server} ({self.meta.precision})"

    # lifecycle -----------------------------------------------------------------------------
    def _activate(self) -> None:
        import tritonclient.grpc as grpcclient

        channel_args = [
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", RECONNECT_MS),
        ]
        self.client = grpcclient.InferenceServerClient(self.server.address, channel_args=channel_args)
        try:
            self._wait_for_server()  # and its model: a server just started loads it after it listens
            self._check_contract()
        except BaseException:
            self._deactivate()
            raise

    def _deactivate(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def _wait_for_server(self) -> None:
        """Until the server is live and ready and has the model ready, or ``wait`` runs out."""
        deadline = time.monotonic() + self.wait
        name = self.model or model_name_for(self.path)
        while True:
            problem = self._live_problem()
            if problem is None:
                if self.client.is_model_ready(name, client_timeout=5.0):
                    self.model = name
                    return
                if time.monotonic() >= deadline:
                    served = self._served()
                    listing = f" (it serves: {', '.join(served) or 'none'})" if served is not None else ""
                    raise RunnerError(
                        f"{self.server}: has no model {name!r} ready{listing}: name the served one with --model-name"
                    )
            elif time.monotonic() >= deadline:
                hint = f"after waiting {self.wait:g} s" if self.wait else "(--wait SECONDS keeps trying)"
                raise RunnerError(
                    f"{self.server}: no Triton server answers {hint}: {problem}; start one with `edgefusion serve`"
                )
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def _live_problem(self) -> str | None:
        from tritonclient.utils import InferenceServerException

        try:
            if self.client.is_server_live(client_timeout=2.0) and self.client.is_server_ready(client_timeout=2.0):
                return None
            return "it is not ready"
        except InferenceServerException as e:
            return _first_line(e)

    def _served(self) -> list[str] | None:
        """The ready models' names, or None where the server keeps its repository API to itself (PyTriton does)."""
        from tritonclient.utils import InferenceServerException

        try:
            index = self.client.get_model_repository_index(as_json=True).get("models", [])
        except InferenceServerException:
            return None
        return sorted(m["name"] for m in index if m.get("state") == "READY")

    def _check_contract(self) -> None:
        """The server's model must take and give the artifact's tensors (names, types, window dims)."""
        served = self.client.get_model_metadata(self.model, as_json=True)
        config = self.client.get_model_config(self.model, as_json=True).get("config", {})
        self.max_batch = int(config.get("max_batch_size", 0))
        # a server that takes video as optional (``edgefusion serve``) is not sent the zeros of no face
        optional = {t["name"] for t in config.get("input", []) if t.get("optional")}
        self.skips_absent_video = "video" in optional
        tensors = served["inputs"] + served["outputs"]
        theirs = {t["name"]: (t["datatype"], [int(d) for d in t["shape"]]) for t in tensors}
        for spec in self.meta.contract:
            name, dims = spec["name"], list(spec["shape"][1:])
            want = f"{spec['name']} {TRITON_DATATYPES.get(spec['dtype'], spec['dtype'])} {dims}"
            if name not in theirs:
                raise RunnerError(
                    f"{self.server}: model {self.model!r} lacks {spec['io']}put {name}: it was not served from "
                    f"{self.path.name}'s contract (serve this artifact, or run with the one served)"
                )
            dtype, shape = theirs[name]
            if self.max_batch:  # Triton's metadata shows the batch dim as -1
                shape = shape[1:]
            elif shape:  # the batch dim is part of an unbatched model's shape
                self.fixed_batch = max(1, shape[0])
                shape = shape[1:]
            if dtype != TRITON_DATATYPES.get(spec["dtype"]) or shape != dims:
                raise RunnerError(
                    f"{self.server}: model {self.model!r} has {name} {dtype} {shape}, {self.path.name} has {want}: "
                    "the server runs another model (serve this artifact, or run with the one served)"
                )

    # inference -----------------------------------------------------------------------------
    def _rows_per_run(self) -> int | None:
        return None  # the server's batch, not the artifact's, sets the size of a request: ``_run`` splits

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Requests of at most the server's batch; a fixed-batch model (``max_batch`` 0) gets full ones, padded."""
        total = len(feed["audio"])
        step = self.max_batch or self.fixed_batch
        parts = []
        for i in range(0, total, step):
            chunk = {k: v[i : i + step] for k, v in feed.items()}
            rows = len(chunk["audio"])
            if not self.max_batch and rows < step:
                chunk = {k: _padded(v, step) for k, v in chunk.items()}
            parts.append({k: v[:rows] for k, v in self._request(chunk).items()})
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in self.outputs}

    def _request(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        if self.skips_absent_video and "video" in feed and not feed["present"][:, 1].any():
            feed = {k: v for k, v in feed.items() if k != "video"}  # no face in any row: the server fills zeros
        inputs = []
        for name, x in feed.items():
            tensor = grpcclient.InferInput(name, list(x.shape), TRITON_DATATYPES[str(x.dtype)])
            tensor.set_data_from_numpy(np.ascontiguousarray(x))
            inputs.append(tensor)
        outputs = [grpcclient.InferRequestedOutput(name) for name in self.outputs]
        try:
            result = self.client.infer(self.model, inputs, outputs=outputs, client_timeout=self.timeout)
        except InferenceServerException as e:  # gone, restarting (model not loaded yet), overloaded
            self.failures += 1
            self._failing = True
            self.last_failure = _first_line(e)
            raise ServerUnavailable(f"{self.server}: model {self.model!r}: {self.last_failure}") from None
        if self._failing:
            self._failing = False
            self.recoveries += 1
        return {name: np.asarray(result.as_numpy(name), dtype=np.float32) for name in self.outputs}


def _padded(x: np.ndarray, rows: int) -> np.ndarray:
    """``x`` with zero rows added up to ``rows`` (a fixed-batch model's last request)."""
    return np.concatenate([x, np.zeros((rows - len(x), *x.shape[1:]), x.dtype)])
