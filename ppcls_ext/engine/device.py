"""Pick the device named by ``Global.device``, failing clearly when it is not there."""
import paddle

VALID_DEVICES = ("cpu", "gpu", "xpu", "npu")


def select_device(name):
    """``paddle.set_device`` for ``Global.device`` (clear error if unavailable); returns the name."""
    name = str(name or "cpu").lower()
    if name not in VALID_DEVICES:
        raise ValueError(f"Global.device {name!r} is not valid; use one of {VALID_DEVICES}")
    if name == "gpu":
        if not paddle.device.is_compiled_with_cuda():
            raise RuntimeError(
                f"Global.device is 'gpu' but this Paddle {paddle.__version__} is a CPU build "
                "(no CUDA). Install the CUDA build (paddlepaddle-gpu, see README), or train "
                "on CPU with -o Global.device=cpu.")
        if paddle.device.cuda.device_count() == 0:
            raise RuntimeError("Global.device is 'gpu' but no CUDA device is visible "
                               "(check CUDA_VISIBLE_DEVICES / the driver), or pass "
                               "-o Global.device=cpu.")
    elif name in ("xpu", "npu") and not paddle.device.is_compiled_with_custom_device(name) \
            and not getattr(paddle.device, f"is_compiled_with_{name}", lambda: False)():
        raise RuntimeError(f"Global.device is {name!r} but this Paddle was not built for it; "
                           "use -o Global.device=cpu")
    paddle.set_device(name)
    return name
