"""`kb serve` with several workers: uvicorn's own supervisor, as `uvicorn --workers N` runs.

The parent binds one listening socket and starts the worker processes (spawned: each
creates its own app, with its own model and index); every worker accepts connections from
that shared socket. uvicorn's supervisor pings each worker every half second and replaces
one that died or stopped answering; it stops the whole server when a worker exits with
uvicorn's startup-failure code (the app or the socket is broken, so another start would
fail the same way), and stops the workers on SIGINT or SIGTERM (SIGHUP restarts them one
at a time; SIGTTIN and SIGTTOU add or remove one).

Until issue 16 kb's parent accepted every connection itself and dealt them to the workers
in turn over a socket pair (SCM_RIGHTS), on uvicorn's internals, because a shared socket
splits keep-alive connections that arrive together unevenly (7/1, 6/2, 5/3 of eight).
Measured against this arrangement and against SO_REUSEPORT listeners, interleaved in the
same runs at 100k entries with 8 keep-alive clients (bench/workers.py; BENCHMARKS.md,
"Workers: dealer vs standard arrangement"), the dealer beat the better of the two by the
10 % that would have kept it in one run of five (hybrid requests/s 0.92 to 1.20 times),
so it went. It was 9 to 20 % ahead of the shared socket in the two runs on a quieter
machine: see BENCHMARKS.md before bringing it back. SO_REUSEPORT (0.98 to 1.09 times the
shared socket) did not earn code of its own either.
"""

import os
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess


def default_workers() -> int:
    """One worker per core, at most 4 (each holds the model and the index in memory)."""
    return max(1, min(4, os.cpu_count() or 1))


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """The socket the workers share, with TCP_NODELAY.

    uvicorn bound it without saying it is TCP until its issue 3149 was fixed (0.55.0, the
    oldest kb accepts, has the fix), so asyncio left Nagle's algorithm on for every
    connection and each keep-alive response waited about 40 ms for a delayed ACK. Set here
    too, so that it does not hang on how uvicorn binds. Accepted connections inherit
    TCP_NODELAY on Linux.
    """
    listener = config.bind_socket()
    if listener.family in (socket.AF_INET, socket.AF_INET6):
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


def serve_workers(config: uvicorn.Config, workers: int) -> None:
    """Serve `config`'s app with `workers` processes until SIGINT or SIGTERM, as
    uvicorn.run does with workers above 1. Written for uvicorn 0.55 (kb's lower bound):
    older supervisors also took a `target`."""
    config.workers = workers
    Multiprocess(config, sockets=[listening_socket(config)]).run()
