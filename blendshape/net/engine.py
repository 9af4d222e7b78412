"""Where the network's arithmetic runs: PyTorch (training, CUDA) or ONNX Runtime (a CPU).

The model is defined, trained and checkpointed in PyTorch, and on a GPU PyTorch runs it.
On a CPU, though, a live stream's step is two feature frames through ~40 small operators,
and PyTorch's per-operator dispatch is most of its cost: 1.2 ms for a 20 ms chunk, 17×
real time. ONNX Runtime runs the same graph as fused kernels (its GRU is one C++ loop):
0.18 ms for the chunk and 3× faster on a whole file, to 1e-6 of PyTorch's curves. The graph
is exported from the loaded weights when they load (0.3 s), so no second weights file
ships and none can drift from the checkpoint.

Live streams on a CPU go further: :class:`Int8Engine` runs a graph built by hand from the
same weights in 8 bits (:mod:`blendshape.net.int8_graph`), half the float graph's cost a
chunk, with no eval figure moved. Whole files keep the float graph, which is the faster
over long runs of frames; :func:`engine_for` picks by the job.

Every engine shares one contract, numpy in and out: ``step(feats, state)`` advances a batch
of streams by their new log-mel frames and returns face weights (sigmoid ARKit, softmax
visemes), and ``whole(feats)`` animates a clip from silence. States are opaque to callers
except through ``initial_state``, ``join`` (streams into a batch) and ``take`` (one stream
back out), so the :class:`~blendshape.net.stream.Batcher` works with any.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any, Protocol, Sequence

import numpy as np
import torch

from blendshape.net.decide import seal_decided_closures
from blendshape.net.model import AudioToFace, ModelConfig, State, pad_to_stack

log = logging.getLogger(__name__)

NpState = tuple[np.ndarray, np.ndarray, np.ndarray]  # conv1 tail, conv2 tail, GRU hidden


def join_np(states: Sequence[NpState]) -> NpState:
    """Streams' numpy states into one batch (the GRU's hidden state is batched on axis 1)."""
    if len(states) == 1:
        return states[0]
    return (np.concatenate([s[0] for s in states]), np.concatenate([s[1] for s in states]),
            np.concatenate([s[2] for s in states], axis=1))


def take_np(state: NpState, index: int) -> NpState:
    """Stream ``index``'s numpy state out of a batch's."""
    if state[0].shape[0] == 1:
        return state
    return (state[0][index:index + 1], state[1][index:index + 1],
            np.ascontiguousarray(state[2][:, index:index + 1]))


class NumpyStates:
    """Numpy states for an engine whose states cross processes or engines: the model's
    silence, batched and split. ``model`` is the engine's :class:`AudioToFace`."""

    model: AudioToFace
    _silence: NpState

    def _keep_silence(self) -> None:
        self._silence = tuple(t.detach().cpu().numpy()  # type: ignore[assignment]
                              for t in self.model.initial_state(1))

    def initial_state(self, batch: int) -> NpState:
        t1, t2, h = self._silence
        return (np.repeat(t1, batch, axis=0), np.repeat(t2, batch, axis=0),
                np.repeat(h, batch, axis=1))

    def join(self, states: Sequence[NpState]) -> NpState:
        return join_np(states)

    def take(self, state: NpState, index: int) -> NpState:
        return take_np(state, index)


class Engine(Protocol):
    """What the batcher, streams and whole-clip animation need from a network."""

    model: AudioToFace
    name: str

    @property
    def config(self) -> ModelConfig: ...

    def initial_state(self, batch: int) -> Any: ...

    def join(self, states: Sequence[Any]) -> Any: ...

    def take(self, state: Any, index: int) -> Any: ...

    def step(self, feats: np.ndarray, state: Any) -> tuple[np.ndarray, Any]: ...

    def whole(self, feats: np.ndarray) -> np.ndarray: ...


class TorchEngine:
    """The model on its own device: CUDA's batches, the offline model, and any CPU without
    ONNX Runtime."""

    name = "torch"

    def __init__(self, model: AudioToFace) -> None:
        self.model = model
        self.fell_back = False  # the GPU ran out of memory once: the CPU serves from then on

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def device(self) -> torch.device:
        return self.model.mean.device

    def initial_state(self, batch: int) -> State:
        return self.model.initial_state(batch)

    def join(self, states: Sequence[State]) -> State:
        device = self.device  # the CPU, once a CUDA out-of-memory moved the model
        return tuple(torch.cat([s[k].to(device) for s in states], dim=1 if k == 2 else 0)
                     for k in range(3))  # type: ignore[return-value]

    def take(self, state: State, index: int) -> State:
        return (state[0][index:index + 1], state[1][index:index + 1],
                state[2][:, index:index + 1])

    @torch.no_grad()
    def step(self, feats: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        logits, new = self._forward(torch.from_numpy(np.ascontiguousarray(feats)), state)
        return _decided(self.config, AudioToFace.activate(logits).cpu().numpy()), new

    def step_numpy(self, feats: np.ndarray, state: NpState) -> tuple[np.ndarray, NpState]:
        """:meth:`step` on numpy states, for a caller whose states cross engines or
        processes (ONNX Runtime's large batches, a Ray replica)."""
        device = self.device
        weights, new = self.step(feats, tuple(torch.from_numpy(np.ascontiguousarray(s)).to(device)
                                              for s in state))  # type: ignore[arg-type]
        return weights, tuple(np.ascontiguousarray(t.cpu().numpy()) for t in new)  # type: ignore[return-value]

    @torch.no_grad()
    def whole(self, feats: np.ndarray) -> np.ndarray:
        logits = self.model(torch.from_numpy(np.ascontiguousarray(feats))[None].to(self.device))
        return _decided(self.config, AudioToFace.activate(logits)[0].cpu().numpy())

    def _forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One model step on the model's device; on CUDA out-of-memory, move to the CPU.

        A show must go on when the card fills (another process, a burst of streams): the
        model moves to the CPU once, with a warning, and this batch is run again there.
        Streams' states follow lazily (``.to`` is free when already there).
        """
        try:
            return self.model.step(x.to(self.device), state)
        except torch.cuda.OutOfMemoryError:
            if self.fell_back:
                raise
            self.fell_back = True
            log.warning("the GPU ran out of memory with %d streams in one batch; the network "
                        "moves to the CPU for the rest of this run (restart to use the GPU)",
                        x.shape[0])
            self.model.to("cpu")
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            return self.model.step(x.cpu(), tuple(t.cpu() for t in state))  # type: ignore[arg-type]


class _Step(torch.nn.Module):
    """The streaming step with activated outputs: the graph ONNX Runtime runs."""

    def __init__(self, model: AudioToFace) -> None:
        super().__init__()
        self.model = model

    def forward(self, feats: torch.Tensor, tail1: torch.Tensor, tail2: torch.Tensor,
                hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, (a, b, c) = self.model.step(feats, (tail1, tail2, hidden))
        return AudioToFace.activate(logits), a, b, c


_INPUTS = ("feats", "tail1", "tail2", "hidden")
_OUTPUTS = ("weights", "tail1_out", "tail2_out", "hidden_out")
_BATCH_AXES = {"feats": {0: "batch", 1: "frames"}, "weights": {0: "batch", 1: "frames"},
               "tail1": {0: "batch"}, "tail2": {0: "batch"}, "hidden": {1: "batch"},
               "tail1_out": {0: "batch"}, "tail2_out": {0: "batch"}, "hidden_out": {1: "batch"}}


class ExportFailed(RuntimeError):
    """This torch or onnxruntime cannot run the model's graph; the caller keeps PyTorch."""


class _OnnxStep(NumpyStates):
    """What the ONNX Runtime engines share: the model's config, and a whole clip as one step
    from silence (the graph's frame count is dynamic)."""

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    def step(self, feats: np.ndarray, state: NpState) -> tuple[np.ndarray, NpState]:
        raise NotImplementedError

    @staticmethod
    def _run(session: Any, feats: np.ndarray, state: NpState) -> tuple[np.ndarray, NpState]:
        """One pass of a step graph: the weights and the three new states."""
        feeds = dict(zip(_INPUTS, (np.ascontiguousarray(feats, np.float32), *state)))
        weights, *new = session.run(None, feeds)
        return weights, tuple(new)  # type: ignore[return-value]

    def whole(self, feats: np.ndarray) -> np.ndarray:
        padded = pad_to_stack(feats, self.config.stack)
        return self.step(padded[None], self.initial_state(1))[0][0][:len(feats)]


class OrtEngine(_OnnxStep):
    """The streaming model's step, exported from its weights, run by ONNX Runtime on a CPU.

    ONNX Runtime's GRU runs each stream of a batch on its own, so its cost grows with the
    batch, while PyTorch's is a few large matrix products whose cost grows far slower.
    Measured side by side for one 20 ms tick: 0.2 against 0.7 ms for one stream, 0.7
    against 0.9 ms for 8, but 19 against 6.6 ms for 256. Batches of more than
    ``torch_above`` streams therefore run in PyTorch, on the same weights and the same
    (numpy) states, so streams move between the two freely.

    ``threads`` is ONNX Runtime's intra-op pool: one by default, because a server's batch
    shares two cores with speech synthesis and a live stream is too small to split.
    """

    name = "onnxruntime"

    def __init__(self, model: AudioToFace, threads: int = 1, torch_above: int = 8) -> None:
        if model.config.bidirectional:
            raise ExportFailed("the offline (bidirectional) model has no streaming step")
        self.model = model
        self.torch_above = torch_above
        self._torch = TorchEngine(model)
        try:
            self._session = _session(_export(model), threads)
        except Exception as exc:  # noqa: BLE001 - any failure here leaves PyTorch, which works
            raise ExportFailed(f"{type(exc).__name__}: {exc}") from exc
        self._keep_silence()

    def step(self, feats: np.ndarray, state: NpState) -> tuple[np.ndarray, NpState]:
        if len(feats) > self.torch_above:
            return self._torch.step_numpy(feats, state)
        weights, new = self._run(self._session, feats, state)
        return _decided(self.config, weights), new


class Int8Engine(_OnnxStep):
    """Live streams on a CPU: the step graph with 8-bit weights (:mod:`blendshape.net.int8_graph`).

    A 20 ms chunk of one stream costs about half what the float graph's does, and one tick
    of up to 256 streams runs faster in it than in PyTorch on one thread, so, unlike
    :class:`OrtEngine`, it keeps every batch: a stream's curves never depend on how many
    others share its tick. Batches of more than ``wide_above`` streams run in a second
    session with ``wide_threads`` (PyTorch's thread count by default), whose curves are the
    same bit for bit (tested): a small tick is too small to split, a large one is worth it.
    Whole clips run the same graph (exactly the curves streaming gives), but slower than the
    float engine, which files get instead.
    """

    name = "onnxruntime-int8"

    def __init__(self, model: AudioToFace, threads: int = 1, wide_threads: int | None = None,
                 wide_above: int = 8) -> None:
        self.model = model
        self.wide_above = wide_above
        try:
            from blendshape.net import int8_graph

            graph = int8_graph.build(model)
            self._session = _session(graph, threads)
            wide = wide_threads or torch.get_num_threads()
            self._wide = self._session if wide == threads else _session(graph, wide)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the float engines
            raise ExportFailed(f"{type(exc).__name__}: {exc}") from exc
        self._keep_silence()

    def step(self, feats: np.ndarray, state: NpState) -> tuple[np.ndarray, NpState]:
        session = self._wide if len(feats) > self.wide_above else self._session
        return self._run(session, feats, state)  # the lips already sealed by the graph


def _session(graph: bytes, threads: int) -> Any:
    """An ONNX Runtime session on the CPU with ``threads`` for each operator, one at a time.

    Its pool's threads sleep between operators instead of spinning: a server's speech
    synthesis shares the cores (as Piper's sessions sleep too). In a 60-session
    say/audio_in/chat soak with the 8-bit batch, first audio p50 was 644 ms with spinning
    threads, against 403 with PyTorch's batch; without spinning, 439 against 430."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _decided(config: ModelConfig, weights: np.ndarray) -> np.ndarray:
    """The step's weights with the lips sealed where the checkpoint asks for it."""
    return seal_decided_closures(weights) if config.decide_closures else weights


def _export(model: AudioToFace) -> bytes:
    """The step graph as ONNX bytes, batch and frame counts dynamic."""
    cpu = AudioToFace(model.config)
    cpu.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    cpu.eval()
    state = cpu.initial_state(1)
    example = (torch.zeros(1, 2, model.config.n_mels), *state)
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's notes on GRU and deprecations
        warnings.simplefilter("ignore")
        torch.onnx.export(_Step(cpu), example, buffer, dynamo=False, opset_version=17,
                          input_names=list(_INPUTS), output_names=list(_OUTPUTS),
                          dynamic_axes=_BATCH_AXES)
    return buffer.getvalue()


ENGINES = ("auto", "int8", "onnxruntime", "torch")


def engine_for(model: AudioToFace | Engine, prefer: str = "auto", *,
               files: bool = False) -> Engine:
    """The fastest engine for ``model`` where it lives.

    ``prefer``: ``auto``, ``int8`` (:class:`Int8Engine`), ``onnxruntime`` (the float graph,
    :class:`OrtEngine`) or ``torch``. ``auto`` runs PyTorch on a GPU and for the offline
    (bidirectional) model; on a CPU, live streams get the 8-bit graph and whole files
    (``files``) the float one, each the faster at its job. An engine passed in is returned
    as it is. When ``auto``'s choice can't be built (a torch without the ONNX exporter, an
    onnxruntime without ``MatMulNBits``) the next one runs, with a warning: 8-bit, then
    float ONNX Runtime, then PyTorch.
    """
    if not isinstance(model, AudioToFace):
        return model
    if prefer not in ENGINES:
        raise ValueError(f"unknown engine {prefer!r}: {', '.join(ENGINES)}")
    if prefer == "torch" or (prefer == "auto" and (model.config.bidirectional
                                                    or model.mean.device.type != "cpu")):
        return TorchEngine(model)
    if prefer != "auto":
        return Int8Engine(model) if prefer == "int8" else OrtEngine(model)
    tries: list[tuple[type, str]] = [] if files else [(Int8Engine, "8-bit")]
    tries.append((OrtEngine, "float"))
    for kind, words in tries:
        try:
            return kind(model)
        except ExportFailed as exc:
            log.warning("the network's %s ONNX Runtime graph could not be built (%s); "
                        "trying the next engine", words, exc)
    log.warning("the network runs in PyTorch on the CPU, ~6× slower a stream, because "
                "ONNX Runtime could not take it")
    return TorchEngine(model)
