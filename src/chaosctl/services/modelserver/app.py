"""Model server: `serve` places the models on the device, then imports and runs the web app (web.py).

Why this order: a GPU server takes no traffic before its warm-up (`ModelServerConfig.warmup_s`,
from the moment its weights are placed) is over, and that warm-up is the tail of `up`; placing the
models first lets the warm-up run while FastAPI, uvicorn and OpenTelemetry are imported (the fork
server forks the GPU servers before it has imported those: services/forkserver.py). So this module
imports no web library: `python -m chaosctl.services model-...` reaches `serve` without them.
Readiness is unchanged: /healthz answers 200 only once the app runs and the warm-up is over.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

from chaosctl.services.modelserver.cuda import CudaGpu, select_gpu
from chaosctl.services.modelserver.device import SimulatedGpu
from chaosctl.services.modelserver.engine import Engine, ModelServerConfig
from chaosctl.settings import Settings
from chaosctl.stack.topology import MODEL_SERVERS, REPLICAS, Topology, model_server


def __getattr__(name: str) -> Any:
    """`create_app` is the web module's, imported on first use (see above); kept reachable here."""
    if name == "create_app":
        from chaosctl.services.modelserver.web import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def gpu_device_for(name: str, config: ModelServerConfig) -> SimulatedGpu | None:
    """The device of model server `name` per CHAOSCTL_GPU (None for a CPU server); raises ChaosctlError."""
    gpu_servers = [m.name for m in (*MODEL_SERVERS, *REPLICAS) if m.device == "gpu"]
    if name not in gpu_servers:
        return None
    dev = select_gpu(os.environ.get("CHAOSCTL_GPU"), config.memory_total_bytes, config.max_concurrency,
                     ordinal=gpu_servers.index(name))  # fmt: skip
    which = f"CUDA device {dev.index}" if isinstance(dev, CudaGpu) else "simulated device"
    print(f"{name}: GPU: {which}, {dev.total_bytes} bytes", file=sys.stderr, flush=True)
    return dev


def serve(name: str, topology: Topology, settings: Settings, config: ModelServerConfig | None = None) -> None:
    """Run model server `name` on its topology port until SIGTERM: models placed first (see above)."""
    from threadpoolctl import threadpool_limits

    from chaosctl.services.modelserver.modelcache import cached_train

    config = config or ModelServerConfig()
    gpu_device = gpu_device_for(name, config)  # before anything starts: a missing forced CUDA device exits here
    # One BLAS/OpenMP thread per call: the bounded worker pool is the concurrency, and
    # several servers share few cores; oversubscribed BLAS threads only add contention.
    threadpool_limits(1)
    engine = Engine(model_server(name), config, gpu_device=gpu_device)  # the tracer: set by web.run
    trainer = functools.partial(cached_train, folder=settings.model_cache_dir)  # load, not retrain, on restart
    engine.place_models(trainer)  # the warm-up starts here

    from chaosctl.services.modelserver import web  # the web stack, while the device warms up

    web.run(engine, topology, settings, trainer)
