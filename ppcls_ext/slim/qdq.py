"""Write an int8 ONNX model: the fp32 export plus QuantizeLinear/DequantizeLinear pairs carrying
PaddleSlim's scales.

Why not paddle2onnx on PaddleSlim's quantized program: paddle2onnx 2.1.0 maps Paddle's
``quantize_linear``/``dequantize_linear`` only to fp8 (its mapper asserts qmax 448 or 57344
and needs opset 19), so an int8 program aborts the conversion. The QDQ graph is therefore
built on the fp32 ONNX export of the same weights, in the form ONNX Runtime's
``quantize_static`` writes (its QDQ format): per-tensor activation QDQ before each quantized
conv, per-channel symmetric int8 weights behind a DequantizeLinear (axis 0).

Quantized convs are found by their weights: paddle2onnx keeps each conv weight (as a Constant
node) with the Paddle parameter's exact values (no BN folding without its optimizer).
"""
import hashlib
import os

import numpy as np

ACT_DTYPES = ("uint8", "int8")


def _digest(array):
    array = np.ascontiguousarray(array, dtype=np.float32)
    return hashlib.sha1(array.tobytes() + str(array.shape).encode()).hexdigest()


def weight_scales(weight):
    """Per-output-channel symmetric int8 scales, PaddleSlim's ``channel_wise_abs_max``
    (scale = max |w| of the channel / 127; an all-zero channel gets scale 1)."""
    w = np.asarray(weight, dtype=np.float32)
    absmax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    return np.where(absmax > 0, absmax / 127.0, 1.0).astype(np.float32)


def _quantize_weight(weight):
    scales = weight_scales(weight)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    q = np.clip(np.round(weight / scales.reshape(shape)), -127, 127).astype(np.int8)
    return q, scales


def _act_qparams(threshold, act_dtype):
    """Symmetric activation range [-threshold, threshold] (PaddleSlim's abs-max quanters).
    uint8 shifts the same 255-level grid by a zero point of 128: identical values, but the
    u8 x s8 product is the one VNNI (VPDPBUSD) and ONNX Runtime's x86 kernels run natively."""
    scale = np.float32(max(float(threshold), 1e-8) / 127.0)
    if act_dtype == "uint8":
        return scale, np.uint8(128)
    return scale, np.int8(0)


def _conv_weights_to_initializers(graph):
    """paddle2onnx 2.1 emits weights as Constant nodes; make conv weights initializers so that
    a DequantizeLinear can take their int8 version as input."""
    from onnx import numpy_helper

    conv_weights = {n.input[1] for n in graph.node if n.op_type == "Conv" and len(n.input) > 1}
    keep = []
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] in conv_weights and \
                node.attribute and node.attribute[0].name == "value":
            array = numpy_helper.to_array(node.attribute[0].t)
            graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)


def insert_qdq(model, quantized, act_dtype="uint8"):
    """Rewrite ``model`` (onnx ModelProto, fp32) in place.

    ``quantized``: list of ``(weight ndarray, activation threshold)``, one per Paddle layer
    to run in int8. Returns the number of convs that were quantized; raises ValueError if a
    weight matches no Conv node (the ONNX file and the weights would then disagree).
    """
    from onnx import helper, numpy_helper

    if act_dtype not in ACT_DTYPES:
        raise ValueError(f"activation dtype must be one of {ACT_DTYPES}, got {act_dtype!r}")
    graph = model.graph
    _conv_weights_to_initializers(graph)
    inits = {t.name: t for t in graph.initializer}
    wanted = {}
    for weight, threshold in quantized:
        wanted.setdefault(_digest(weight), []).append(float(threshold))
    new_nodes, new_inits = [], []
    thresholds = {}
    matched = set()
    conv_of_tensor = {}
    for node in graph.node:
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        key = _digest(numpy_helper.to_array(inits[node.input[1]]))
        if key in wanted:
            conv_of_tensor.setdefault(node.input[0], []).append(node)
            thresholds.setdefault(node.input[0], []).extend(wanted[key])
            matched.add(key)
    missing = set(wanted) - matched
    if missing:
        raise ValueError(f"{len(missing)} quantized weights match no Conv of the ONNX model")

    for tensor, convs in conv_of_tensor.items():
        # Consumers of one tensor share one QDQ (a runtime fuses it once); its range is the
        # widest of their calibrated ranges.
        scale, zero = _act_qparams(max(thresholds[tensor]), act_dtype)
        base = tensor.replace(":", "_")
        s_name, z_name = f"{base}_act_scale", f"{base}_act_zero"
        new_inits += [numpy_helper.from_array(np.array(scale, np.float32), s_name),
                      numpy_helper.from_array(np.array(zero), z_name)]
        q_out, dq_out = f"{base}_quantized", f"{base}_dequantized"
        new_nodes.append((convs[0], [
            helper.make_node("QuantizeLinear", [tensor, s_name, z_name], [q_out],
                             name=f"{base}_QuantizeLinear"),
            helper.make_node("DequantizeLinear", [q_out, s_name, z_name], [dq_out],
                             name=f"{base}_DequantizeLinear")]))
        for conv in convs:
            conv.input[0] = dq_out
            w_name = conv.input[1]
            weight = numpy_helper.to_array(inits[w_name])
            q, scales = _quantize_weight(weight)
            qw_name = f"{w_name}_quantized"
            ws_name, wz_name = f"{w_name}_scale", f"{w_name}_zero"
            new_inits += [numpy_helper.from_array(q, qw_name),
                          numpy_helper.from_array(scales, ws_name),
                          numpy_helper.from_array(np.zeros(len(scales), np.int8), wz_name)]
            dqw = f"{w_name}_dequantized"
            new_nodes.append((conv, [helper.make_node(
                "DequantizeLinear", [qw_name, ws_name, wz_name], [dqw],
                name=f"{w_name}_DequantizeLinear", axis=0)]))
            conv.input[1] = dqw

    # Insert each new node right before the node that consumes it (keeps topological order).
    before = {}
    for anchor, nodes in new_nodes:
        before.setdefault(id(anchor), []).extend(nodes)
    ordered = []
    for node in graph.node:
        ordered.extend(before.get(id(node), []))
        ordered.append(node)
    del graph.node[:]
    graph.node.extend(ordered)
    used = {i for n in graph.node for i in n.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep + new_inits)
    return sum(len(c) for c in conv_of_tensor.values())


def write_int8_onnx(fp32_file, int8_file, quantized, act_dtype="uint8"):
    """Read ``fp32_file``, insert the QDQ nodes, check and write ``int8_file`` atomically."""
    import onnx

    model = onnx.load(fp32_file)
    count = insert_qdq(model, quantized, act_dtype)
    onnx.checker.check_model(model)
    tmp = int8_file + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, int8_file)
    return count
