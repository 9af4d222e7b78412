"""Past one machine: the network's batched streaming step as a Ray Serve deployment (DESIGN §8).

The front keeps what is cheap and belongs to one stream (its resampler, its log-mel framer,
the frame counts) and sends the arithmetic: each tick, :class:`RemoteEngine` ships the
tick's feature frames and the streams' carried states to a :class:`NetworkStep` replica and
gets back their face weights and new states. The state travels with the call, so any
replica serves any stream's next step, and a front keeps nothing a replica's death could
lose. ``@serve.batch`` on the replica joins the calls of every front that queued while its
last pass ran into one forward pass, the way :class:`~blendshape.net.stream.Batcher` joins
one front's streams.

On the wire a state is always numpy (:data:`~blendshape.net.engine.NpState`), whatever
engine a replica runs (ONNX Runtime on a CPU, PyTorch on a GPU), so fronts and replicas
never have to agree on one. A call that dies with its replica is asked once more; a second
failure is :class:`NetworkStepError`, which fails that tick's batch: its ``audio_in``
streams end with an ``error`` and their sessions go on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from blendshape.net.engine import Engine, NpState, NumpyStates, TorchEngine, join_np
from blendshape.net.model import AudioToFace, ModelConfig
from bridge.server.scale import CONSTRUCTOR_TRIES, call_with_retry, run_app

APP = "talkbridge-network"
#: Seconds one tick's step may take on the cluster (a replica's restart included) before it
#: fails: a stream that waits longer is seconds late and better ended.
STEP_TIMEOUT_S = 30.0
#: How long a replica waits for more fronts' calls before it steps what it has: none. A
#: pass takes the calls that queued while the last one ran, so batches grow with the load
#: by themselves, and an idle replica answers at once (a 2 ms wait measured 7.4 ms a hop
#: for one stream, against 4.6 ms without: `talkbridge bench --ray`).
BATCH_WAIT_S = 0.0
#: Fronts' calls joined into one pass at most (each already a front's whole tick).
MAX_BATCH_CALLS = 32


class NetworkStepError(RuntimeError):
    """The cluster could not step a batch twice running; the message says why."""


def numpy_step(engine: Engine, feats: np.ndarray, state: NpState) -> tuple[np.ndarray, NpState]:
    """``engine.step`` on numpy states, whichever engine it is (PyTorch's are tensors)."""
    if isinstance(engine, TorchEngine):
        return engine.step_numpy(feats, state)
    return engine.step(feats, state)


def step_calls(engine: Engine, calls: Sequence[tuple[np.ndarray, NpState]]
               ) -> list[tuple[np.ndarray, NpState]]:
    """Many fronts' batches in as few passes as their frame counts allow (one, usually).

    Calls with equal frame counts are concatenated, stepped once and split back, so a
    stream's result never depends on what it was batched with (:class:`Batcher`'s rule)."""
    by_len: dict[int, list[int]] = {}
    for i, (feats, _) in enumerate(calls):
        by_len.setdefault(feats.shape[1], []).append(i)
    out: list[tuple[np.ndarray, NpState]] = [None] * len(calls)  # type: ignore[list-item]
    for group in by_len.values():
        sizes = [calls[i][0].shape[0] for i in group]
        weights, new = numpy_step(engine, np.concatenate([calls[i][0] for i in group]),
                                  join_np([calls[i][1] for i in group]))
        first = 0
        for i, size in zip(group, sizes):
            end = first + size
            out[i] = (weights[first:end], (new[0][first:end], new[1][first:end],
                                           np.ascontiguousarray(new[2][:, first:end])))
            first = end
    return out


class NetworkStep:
    """The deployment's body: the streaming network, loaded once per replica from the same
    weights as the fronts' (the shipped ones unless a path is given, which must exist on
    every node)."""

    def __init__(self, weights: str | None = None, engine: str = "auto") -> None:
        from blendshape.net.stream import load_network, pick_device

        self.engine = load_network(weights, pick_device(None), engine)

    def step_many(self, calls: list[tuple[np.ndarray, NpState]]
                  ) -> list[tuple[np.ndarray, NpState, int, int]]:
        """Each call's (weights, new states), the replica that stepped it and how many calls
        shared its pass."""
        pid, joined = os.getpid(), len(calls)
        return [(w, s, pid, joined) for w, s in step_calls(self.engine, calls)]


def deploy(weights: str | None = None, engine: str = "auto", replicas: int = 1,
           cpus_per_replica: float = 0.5, gpus_per_replica: float = 0.0) -> Any:
    """Run :class:`NetworkStep` on the cluster, batched across fronts; returns its handle.

    Half a CPU a replica by default: one step of 8 streams is a millisecond of one core, so a
    replica idles most of each 10 ms tick until hundreds of streams share it, and a two-core
    node holds it beside a synthesizer and a recognizer. ``gpus_per_replica`` (``[scale]
    network_gpus``) places each replica on a GPU node with that share of a GPU, which Ray
    makes visible to it alone, so the network (``engine = "auto"``) runs there on CUDA."""
    from ray import serve

    class BatchedNetworkStep(NetworkStep):
        @serve.batch(max_batch_size=MAX_BATCH_CALLS, batch_wait_timeout_s=BATCH_WAIT_S)
        async def step(self, calls: list[tuple[np.ndarray, NpState]]
                       ) -> list[tuple[np.ndarray, NpState, int, int]]:
            return self.step_many(calls)

    deployment = serve.deployment(BatchedNetworkStep, name="NetworkStep").options(
        num_replicas=replicas,
        ray_actor_options={"num_cpus": cpus_per_replica, "num_gpus": gpus_per_replica},
        max_ongoing_requests=2 * MAX_BATCH_CALLS,
        max_constructor_retry_count=CONSTRUCTOR_TRIES,
        # No access log: Serve writes a line a call, and every front calls once a 10 ms tick
        # while a stream is live (a million lines a front in a three-hour show). Failures
        # are still logged, on both sides.
        logging_config={"enable_access_log": False})
    return run_app(deployment.bind(weights, engine), APP)


class RemoteEngine(NumpyStates):
    """An engine whose step runs on the cluster; everything else is the local engine's.

    The local engine gives the model's shape (look-ahead, stack, denoise) and animates whole
    clips; its states are replaced by numpy ones, which travel."""

    name = "ray"

    def __init__(self, local: Engine, handle: Any) -> None:
        self.local, self._handle = local, handle
        self.model: AudioToFace = local.model
        self._keep_silence()
        self.replica_pids: set[int] = set()  # the replicas that stepped for this front
        self.timeout_s = STEP_TIMEOUT_S  # per try
        self.most_joined = 0  # the most calls (this front's and others') one pass stepped

    @property
    def config(self) -> ModelConfig:
        return self.local.config

    def step(self, feats: np.ndarray, state: NpState) -> tuple[np.ndarray, NpState]:
        """One batch's step on a replica (blocking: the batcher's worker thread calls it)."""
        weights, new, pid, joined = call_with_retry(
            self._handle.step, (np.ascontiguousarray(feats, np.float32), state),
            what=f"step the network for {feats.shape[0]} streams", fault=NetworkStepError,
            timeout_s=self.timeout_s)
        self.replica_pids.add(pid)
        self.most_joined = max(self.most_joined, joined)
        return weights, new

    def whole(self, feats: np.ndarray) -> np.ndarray:
        return self.local.whole(feats)


def remote_engine(handle: Any, local: Engine) -> RemoteEngine:
    """``local`` with its streaming step on the deployment behind ``handle`` (the server's
    ``network_on`` hook)."""
    return RemoteEngine(local, handle)
