"""CPU model and the instruction-set flags that decide which precision runs fastest.

Read from /proc/cpuinfo (Linux); elsewhere the model is ``platform.processor()`` and the
flags are unknown (False). No Paddle, no extra package.
"""
import functools
import platform

# flag name in /proc/cpuinfo -> our key; any of several names sets the key
_FLAGS = {"avx2": ("avx2",), "avx512": ("avx512f",), "vnni": ("avx512_vnni", "avx_vnni"),
          "bf16": ("avx512_bf16",), "amx": ("amx_tile",), "amx_bf16": ("amx_bf16",),
          "amx_int8": ("amx_int8",)}


@functools.lru_cache(maxsize=1)
def _cpuinfo():
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not flags:
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return model, frozenset(flags)


def cpu_model():
    return _cpuinfo()[0]


def cpu_flags():
    """{avx2, avx512, vnni, bf16, amx, amx_bf16, amx_int8: bool}."""
    flags = _cpuinfo()[1]
    return {key: any(name in flags for name in names) for key, names in _FLAGS.items()}

