"""`kb serve` with several workers: processes that are dealt connections in turn.

uvicorn's own workers share the listening socket, and the first to wake takes every
connection waiting. Clients that connect together and stay connected (keep-alive, as a
reverse proxy's upstream pool does) end up split 2 and 6, or 1 and 7, between two
workers: one process queues while the other idles. With 8 clients over 100k entries
that was 118 to 136 requests/s and p99 140 to 156 ms, against 157 requests/s and p99
88 ms when they happened to split 4 and 4 (BENCHMARKS.md). Node's cluster module deals
connections from its parent process for the same reason, and so does this: the parent
accepts each connection and passes it (SCM_RIGHTS over a socket pair) to the next
worker, which serves it with uvicorn's HTTP protocol.
"""

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess

import uvicorn
from uvicorn.config import STARTUP_FAILURE

logger = logging.getLogger("uvicorn.error")
# A worker that fails to start this many times stops the server.
MAX_FAILED_STARTS = 3
CHECK_SECONDS = 1.0  # how often the parent looks for dead workers to replace


def default_workers() -> int:
    """One worker per core, at most 4 (each holds the model and the index in memory);
    one where connections cannot be passed between processes (Windows)."""
    if not hasattr(socket, "send_fds"):
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The socket the parent accepts connections on, with TCP_NODELAY.

    uvicorn binds it without saying it is TCP, so asyncio would leave Nagle's algorithm
    on for every connection, and each keep-alive response would wait about 40 ms for a
    delayed ACK (uvicorn issue 3149). Accepted connections inherit TCP_NODELAY on Linux.
    """
    listener = config.bind_socket()
    if listener.family in (socket.AF_INET, socket.AF_INET6):
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


class Worker:
    """One worker process and the parent's end of the socket pair it is dealt on."""

    def __init__(self, config: uvicorn.Config) -> None:
        # Datagrams in order: one connection per message, and an empty one at the end.
        self.channel, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        context = multiprocessing.get_context("spawn")
        self.process: BaseProcess = context.Process(
            target=_run_worker, args=(config, worker_end), daemon=False
        )
        self.process.start()
        worker_end.close()

    def deal(self, connection: socket.socket) -> bool:
        """Pass the connection to the worker; False if the worker is gone."""
        try:
            socket.send_fds(self.channel, [b"c"], [connection.fileno()])
        except OSError:
            return False
        return True

    def stop(self) -> None:
        self.channel.close()  # the worker sees the end of its channel and shuts down
        if self.process.is_alive() and self.process.pid is not None:
            os.kill(self.process.pid, signal.SIGTERM)


class Dealer:
    """Accepts connections and deals them to the workers in turn; replaces a worker
    that dies, and stops them all on SIGINT or SIGTERM."""

    def __init__(self, config: uvicorn.Config, workers: int) -> None:
        self.config = config
        self.count = workers
        self.should_exit = threading.Event()
        self.workers: list[Worker] = []
        self.next = 0
        self.failed_starts = 0

    def run(self) -> None:
        listener = listening_socket(self.config)
        listener.listen(self.config.backlog)
        listener.settimeout(0.25)  # wakes up to check on the workers and the signals
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.should_exit.set())
        logger.info("Started parent process [%d], %d workers", os.getpid(), self.count)
        self.workers = [Worker(self.config) for _ in range(self.count)]
        try:
            checked = time.monotonic()
            while not self.should_exit.is_set():
                try:
                    connection, _address = listener.accept()
                    with connection:
                        self.deal(connection)
                except TimeoutError:
                    pass
                if time.monotonic() - checked > CHECK_SECONDS:
                    self.replace_dead_workers()
                    checked = time.monotonic()
        finally:
            listener.close()
            for worker in self.workers:
                worker.stop()
            for worker in self.workers:
                worker.process.join(timeout=self.config.timeout_graceful_shutdown or 30)
                if worker.process.is_alive():
                    worker.process.kill()
            logger.info("Stopping parent process [%d]", os.getpid())

    def deal(self, connection: socket.socket) -> None:
        for _attempt in range(len(self.workers)):
            worker = self.workers[self.next]
            self.next = (self.next + 1) % len(self.workers)
            if worker.deal(connection):
                return
        logger.error("no worker took a connection; it was closed")

    def replace_dead_workers(self) -> None:
        for number, worker in enumerate(self.workers):
            if worker.process.is_alive() or self.should_exit.is_set():
                continue
            worker.process.join()
            worker.channel.close()
            if worker.process.exitcode == STARTUP_FAILURE:
                self.failed_starts += 1
                if self.failed_starts >= MAX_FAILED_STARTS:
                    logger.error("workers keep failing to start: stopping")
                    self.should_exit.set()
                    return
            logger.info("worker process [%s] died; starting another", worker.process.pid)
            self.workers[number] = Worker(self.config)


def _run_worker(config: uvicorn.Config, channel: socket.socket) -> None:
    config.configure_logging()
    try:
        DealtServer(config, channel).run()
    except KeyboardInterrupt:
        pass  # the parent stops the workers itself


class DealtServer(uvicorn.Server):
    """uvicorn's server, serving the connections it is passed instead of accepting."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel
        self.connecting: set[asyncio.Task[object]] = set()  # referenced until done

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.Protocol:
            created: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
                config=self.config, server_state=self.server_state, app_state=self.lifespan.state
            )
            return created

        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._take_connections, loop, protocol)
        self.servers = []
        self.started = True
        logger.info("Worker process [%d] ready", os.getpid())

    def _take_connections(
        self, loop: asyncio.AbstractEventLoop, protocol: Callable[[], asyncio.Protocol]
    ) -> None:
        try:
            message, descriptors, _flags, _address = socket.recv_fds(self.channel, 1, 1)
        except BlockingIOError:
            return
        if not message:  # the parent closed its end: it is stopping
            loop.remove_reader(self.channel.fileno())
            self.should_exit = True
            return
        for descriptor in descriptors:
            connection = socket.socket(fileno=descriptor)
            connection.setblocking(False)
            task = loop.create_task(loop.connect_accepted_socket(protocol, connection))
            self.connecting.add(task)
            task.add_done_callback(self.connecting.discard)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().remove_reader(self.channel.fileno())
        await super().shutdown(sockets)
        self.channel.close()
