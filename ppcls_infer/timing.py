"""Latency of a callable: the one benchmark loop of the predictors and benchmarks (Paddle-free).

``deploy/python/predict_cls.py`` (``Global.enable_benchmark``), ``deploy/python/predict_det.py``
(``--run_benchmark``) and ``benchmarks/det_latency.py`` time their runs here: ``warmup`` calls
untimed (first-call allocation, oneDNN/OpenVINO kernel selection), then ``repeats`` calls
each timed with ``time.perf_counter`` (wall clock, includes whatever the callable waits
for).
"""
import time

import numpy as np


def measure_latency(fn, warmup=5, repeats=30):
    """Call ``fn()`` ``warmup`` times, then time ``repeats`` calls.

    Returns:
        ``{"runs", "mean_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms"}``: the number of timed
        calls and their statistics in milliseconds (percentiles as ``numpy.percentile``,
        linear interpolation; ``p50_ms`` is the median).

    Raises:
        ValueError: ``repeats`` < 1 or ``warmup`` < 0.
    """
    if int(repeats) < 1 or int(warmup) < 0:
        raise ValueError(f"benchmark needs repeats >= 1 and warmup >= 0, got repeats={repeats}, "
                         f"warmup={warmup}")
    for _ in range(int(warmup)):
        fn()
    times = np.empty(int(repeats))
    for i in range(len(times)):
        start = time.perf_counter()
        fn()
        times[i] = (time.perf_counter() - start) * 1000.0
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return {"runs": len(times), "mean_ms": float(times.mean()), "min_ms": float(times.min()),
            "p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99)}
