"""The streaming step as an ONNX graph with 8-bit weights, built by hand: live streams on a CPU.

Why: a live stream's 20 ms chunk is two frames, and its step read the network's 2.5 MB of
float weights, more than this CPU's 2 MB L2 per core, on every chunk; ONNX Runtime's GRU
and Conv operators around them cost ~170-190 µs a chunk. Here every weight matrix is one
``MatMulNBits`` (com.microsoft): 8-bit weights in blocks of 32 along the input, each block
with its own scale and zero point, multiplied as 8-bit products (``accuracy_level`` 4).
The weights take 0.7 MB and the chunk ~90 µs. Measured beside the float graph, it is
slower on long runs of frames, though (a 10 s file's 1,000 frames: ~27 against ~17 ms),
where the float GRU keeps its weights in cache anyway: so whole files keep the float
engine, and this one serves streams (:func:`blendshape.net.engine.engine_for`).

Quantization moves the curves ~3e-4 on average on speech, a frame's lips by up to a few
hundredths where PP's lead sits on the closure ramp; on the flite set, clean, in noise and
by telephone, no figure moved beyond the clip-by-clip interval of zero (model card). The
checkpoint's closure decision runs inside the graph too (:func:`_seal`). Each activation row is quantized on its own (per frame,
per 32 inputs), so a frame's result does not depend on which frames or streams share its
call: this engine streams exactly as it animates a whole clip, and batching never changes
a stream's result.

The graph (B streams, T frames): each convolution is one product over a frame and its
``kernel − 1`` predecessors (the carried tails first); each GRU layer's input projection
covers every frame at once, and its recurrence runs in a ``Scan`` of PyTorch's equations;
the head covers every frame, then sigmoid for ARKit and softmax for visemes. The states
keep PyTorch's layout (conv tails channels-first, the GRU's hidden state (layers, B,
hidden)), so a stream's state means the same in every engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blendshape.net.model import N_ARKIT, N_OUT, AudioToFace

BITS, BLOCK = 8, 32
_MS = "com.microsoft"


def quantize(w: np.ndarray, block: int = BLOCK) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K, N) float weights → ``MatMulNBits``' 8-bit weights (N, blocks, block), scales and
    zero points (N × blocks): weight = (q − zero) · scale.

    Asymmetric per block, the range widened to hold 0 (so a block of zeros stays zeros);
    a last block short of ``block`` inputs is padded with zeros."""
    k, n = w.shape
    blocks = -(-k // block)
    padded = np.zeros((n, blocks * block), np.float32)
    padded[:, :k] = w.T
    grouped = padded.reshape(n, blocks, block)
    low = np.minimum(grouped.min(-1), 0.0)
    high = np.maximum(grouped.max(-1), 0.0)
    top = 2 ** BITS - 1
    scale = (high - low) / top
    scale[scale == 0] = 1.0
    zero = np.clip(np.round(-low / scale), 0, top)
    q = np.clip(np.round(grouped / scale[..., None]) + zero[..., None], 0, top)
    return (q.astype(np.uint8), scale.reshape(-1).astype(np.float32),
            zero.reshape(-1).astype(np.uint8))


class _Graph:
    """Nodes and initializers with fresh names: a tiny builder, so the graph reads as math."""

    def __init__(self, prefix: str) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._prefix, self._n = prefix, 0

    def _name(self) -> str:
        self._n += 1
        return f"{self._prefix}{self._n}"

    def const(self, value: Any) -> str:
        from onnx import numpy_helper

        name = self._name()
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], outputs: int | list[str] = 1,
           **attrs: Any) -> Any:
        from onnx import helper

        names = [self._name() for _ in range(outputs)] if isinstance(outputs, int) else outputs
        domain = _MS if kind == "MatMulNBits" else None
        self.nodes.append(helper.make_node(kind, inputs, names, domain=domain, **attrs))
        return names[0] if len(names) == 1 else names

    def ints(self, *values: int) -> str:
        return self.const(np.array(values, np.int64))

    def linear(self, x: str, w: np.ndarray, b: np.ndarray) -> str:
        """x (..., K) @ w (K, N) + b, in 8-bit weights and 8-bit products."""
        packed, scales, zeros = quantize(w)
        return self.op("MatMulNBits", [x, self.const(packed), self.const(scales),
                                       self.const(zeros), "", self.const(b.astype(np.float32))],
                       K=w.shape[0], N=w.shape[1], bits=BITS, block_size=BLOCK,
                       accuracy_level=4)

    def cell(self, x_rz: str, x_n: str, h_rz: str, h_n: str, h: str, out: str) -> None:
        """One GRU step from its input's and its state's projections (PyTorch's equations:
        r, z = σ(x + h); n = tanh(x_n + r·h_n); h' = n + z·(h − n))."""
        r, z = self.op("Split", [self.op("Sigmoid", [self.op("Add", [x_rz, h_rz])])], 2,
                       axis=-1, num_outputs=2)
        n = self.op("Tanh", [self.op("Add", [x_n, self.op("Mul", [r, h_n])])])
        self.op("Add", [n, self.op("Mul", [z, self.op("Sub", [h, n])])], [out])


def build(model: AudioToFace) -> bytes:
    """The step graph of a streaming model's weights, with the inputs and outputs
    :mod:`blendshape.net.engine` names (feats, tail1, tail2, hidden → weights and the three
    new states). An offline (bidirectional) model has no step: ``ValueError``."""
    from onnx import TensorProto, helper

    c = model.config
    if c.bidirectional:
        raise ValueError("the offline (bidirectional) model has no streaming step")
    f, vi = TensorProto.FLOAT, helper.make_tensor_value_info
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    h_, width, edge = c.hidden, c.n_mels * c.stack, c.kernel - 1
    g = _Graph("n")
    normal = g.op("Div", [g.op("Sub", ["feats", g.const(sd["mean"])]), g.const(sd["std"])])
    x = g.op("Reshape", [normal, g.ints(0, -1, width)])  # (B, steps, stack · n_mels)
    steps = g.op("Unsqueeze", [g.op("Gather", [g.op("Shape", [x]), g.const(np.int64(1))]),
                               g.ints(0)])

    def conv(tail: str, frames: str, w: np.ndarray, b: np.ndarray, tail_out: str) -> str:
        """Causal conv over [tail, frames] as one product: step t hears t … t + kernel − 1."""
        seq = g.op("Concat", [g.op("Transpose", [tail], perm=[0, 2, 1]), frames], axis=1)
        g.op("Transpose", [g.op("Slice", [seq, steps, g.op("Add", [steps, g.ints(edge)]),
                                          g.ints(1)])], [tail_out], perm=[0, 2, 1])
        columns = [g.op("Slice", [seq, g.ints(k), g.op("Add", [steps, g.ints(k)]), g.ints(1)])
                   for k in range(c.kernel)]
        weight = w.transpose(2, 1, 0).reshape(-1, w.shape[0])  # (kernel · in, out), k-major
        return g.op("Relu", [g.linear(g.op("Concat", columns, axis=2), weight, b)])

    seq = conv("tail1", x, sd["conv1.weight"], sd["conv1.bias"], "tail1_out")
    seq = conv("tail2", seq, sd["conv2.weight"], sd["conv2.bias"], "tail2_out")
    last = []
    for layer in range(c.layers):
        # The layer's input projection, every step at once, time first for the scan: rz | n.
        x_all = g.linear(seq, sd[f"gru.weight_ih_l{layer}"].T, sd[f"gru.bias_ih_l{layer}"])
        x_rz, x_n = g.op("Split", [g.op("Transpose", [x_all], perm=[1, 0, 2]),
                                   g.ints(2 * h_, h_)], 2, axis=2)
        body = _Graph(f"l{layer}_")
        h_rz, h_n = body.op("Split", [body.linear("h", sd[f"gru.weight_hh_l{layer}"].T,
                                                  sd[f"gru.bias_hh_l{layer}"]),
                                      body.ints(2 * h_, h_)], 2, axis=-1)
        body.cell("x_rz", "x_n", h_rz, h_n, "h", out="h_out")
        body.op("Identity", ["h_out"], ["y"])
        cell = helper.make_graph(
            body.nodes, f"gru{layer}",
            [vi("h", f, ["B", h_]), vi("x_rz", f, ["B", 2 * h_]), vi("x_n", f, ["B", h_])],
            [vi("h_out", f, ["B", h_]), vi("y", f, ["B", h_])], body.initializers)
        start = g.op("Gather", ["hidden", g.const(np.int64(layer))], axis=0)
        end, ys = g.op("Scan", [start, x_rz, x_n], 2, body=cell, num_scan_inputs=2)
        seq = g.op("Transpose", [ys], perm=[1, 0, 2])
        last.append(g.op("Unsqueeze", [end, g.ints(0)]))
    g.op("Concat", last, ["hidden_out"], axis=0)
    logits = g.op("Reshape", [g.linear(seq, sd["head.weight"].T, sd["head.bias"]),
                              g.ints(0, -1, N_OUT)])  # stack frames a step back to frames
    arkit, visemes = g.op("Split", [logits, g.ints(N_ARKIT, N_OUT - N_ARKIT)], 2, axis=2)
    weights = g.op("Concat", [g.op("Sigmoid", [arkit]), g.op("Softmax", [visemes], axis=-1)],
                   1 if c.decide_closures else ["weights"], axis=2)
    if c.decide_closures:
        _seal(g, weights, "weights")
    graph = helper.make_graph(
        g.nodes, "talkbridge_a2f_step_int8",
        [vi("feats", f, ["B", "T", c.n_mels]), vi("tail1", f, ["B", width, edge]),
         vi("tail2", f, ["B", h_, edge]), vi("hidden", f, [c.layers, "B", h_])],
        [vi("weights", f, ["B", "T", N_OUT]), vi("tail1_out", f, ["B", width, edge]),
         vi("tail2_out", f, ["B", h_, edge]), vi("hidden_out", f, [c.layers, "B", h_])],
        g.initializers)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                         helper.make_opsetid(_MS, 1)])
    return onnx_model.SerializeToString()


def _seal(g: _Graph, weights: str, out: str) -> None:
    """:func:`blendshape.net.decide.seal_decided_closures` as graph nodes: the same float32
    operations in the same order, so the same bits (tested), at a few µs where the numpy
    rule cost a live chunk ~47 µs (a dozen small array operations, each a cache miss after
    the step)."""
    from blendshape.net import decide as rule

    def column(index: int) -> str:  # (B, T)
        return g.op("Gather", [weights, g.const(np.int64(index))], axis=2)

    def f32(value: float) -> str:
        return g.const(np.float32(value))

    others = g.op("Gather", [weights, g.ints(*rule._OTHERS)], axis=2)
    lead = g.op("Sub", [column(rule._N_ARKIT + rule._PP),
                        g.op("ReduceMax", [others, g.ints(2)], keepdims=0)])
    strength = g.op("Clip", [g.op("Div", [lead, f32(rule.LEAD)]), f32(0.0), f32(1.0)])
    close = column(rule._CLOSE)
    sealed = g.op("Add", [close, g.op("Mul", [strength, g.op("Sub", [
        g.op("Max", [close, column(rule._JAW)]), close])])])
    press = g.op("Gather", [weights, g.ints(*rule._PRESS)], axis=2)  # (B, T, 2)
    pressed = g.op("Add", [press, g.op("Mul", [g.op("Unsqueeze", [strength, g.ints(2)]), g.op(
        "Sub", [g.op("Max", [press, f32(rule.PRESS)]), press])])])
    replaced = [(rule._CLOSE, g.op("Unsqueeze", [sealed, g.ints(2)]))]
    replaced += zip(rule._PRESS, g.op("Split", [pressed], 2, axis=2, num_outputs=2))
    for k, (index, value) in enumerate(replaced):
        mask = np.zeros(N_OUT, bool)
        mask[index] = True
        weights = g.op("Where", [g.const(mask), value, weights],
                       [out] if k == len(replaced) - 1 else 1)
