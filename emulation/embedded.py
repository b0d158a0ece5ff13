"""Run a real ScalerServer on its own event-loop thread: for the live demo, benchmarks and tests."""

from __future__ import annotations

import asyncio
import threading
import time

from scaler.collector import Clock
from scaler.config import ServerConfig
from scaler.server import ScalerServer


class EmbeddedScaler:
    """Starts the full server (gRPC, HTTP, collector) in a background thread of this process."""

    def __init__(self, config: ServerConfig, clock: Clock = time.time) -> None:
        self.config = config
        self._clock = clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gpuscale-loop", daemon=True)
        self.server: ScalerServer

    def start(self) -> EmbeddedScaler:
        self._thread.start()

        async def boot() -> ScalerServer:
            server = ScalerServer(self.config, self._clock)
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=30)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.grpc_port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
