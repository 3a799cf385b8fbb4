"""Where items run: in this process (local), or in Ray actors on this machine or a cluster (ray).

Both take the items still to do and yield (item, rows) as each finishes; the driver stores the rows.
Ray is an existing engine for exactly this (scheduling, restarts, clusters); nothing here replaces it.
A killed Ray worker is restarted and its item run again (`max_restarts`, `max_task_retries`); a killed
driver loses only the items in flight, which `--resume` runs again.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Iterable, Iterator

from strike_pose.errors import StrikePoseError
from strike_pose.experiments.work import Item, Worker

BACKENDS = ("local", "ray")


def run_local(items: Iterable[Item], workers: int | None = None) -> Iterator[tuple[Item, list[dict]]]:
    worker = Worker()
    for item in items:
        yield item, worker.run(item)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise StrikePoseError(f"the ray backend needs Ray, which this Python lacks: run `make cluster` in the project "
                              f"folder (it installs the [cluster] extra), or {sys.executable} -m pip install "
                              "'ray>=2.9'; or use --backend local") from None
    return ray


CONNECT_SECONDS = 5.0  # how long a cluster's address may take to accept a connection


def check_ray(address: str | None = None) -> None:
    """Before any work: Ray is installed and, with an address, something listens there. Without this a
    missing Ray would fail after the progress bar, and an address where nothing listens would make
    ray.init retry for ever."""
    if address:
        _use_the_local_token()  # before Ray is imported: it reads the mode once
    _import_ray()
    if address:
        check_reachable(address)


def check_reachable(address: str, seconds: float = CONNECT_SECONDS) -> None:
    """A StrikePoseError unless a TCP connection to the cluster's HOST:PORT (or ray://HOST:PORT) opens
    within `seconds`; "auto" and "local" are left to Ray."""
    text = address.strip()
    if text in ("auto", "local"):
        return
    host, colon, port = text.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise StrikePoseError(f"--address {address} is not HOST:PORT; give the address `ray start --head` printed "
                              "(e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=seconds):
            pass
    except socket.timeout:
        reason = f"no answer within {seconds:g} s"
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
    else:
        return
    raise StrikePoseError(f"no Ray cluster can be reached at {address} ({reason}); check the address (ray start "
                          "--head prints it) and that the head is running, or use --backend local")


def _use_the_local_token() -> None:
    """Join with token authentication when this machine has a Ray token and no mode is chosen.

    `ray start --head` turns token authentication on by itself when ~/.ray/auth_token exists (a local
    `ray.init()` writes one), but a driver joining with an address does not, and is then refused. A
    driver that sends a token also joins clusters without authentication, so sending it is safe."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


def run_ray(items: Iterable[Item], workers: int | None = None, address: str | None = None
            ) -> Iterator[tuple[Item, list[dict]]]:
    if address:
        _use_the_local_token()  # before Ray is imported: it reads the mode once
    ray = _import_ray()
    items = list(items)
    if not items:
        return
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            else:
                # "local": a Ray of its own, even when `ray start` left a cluster running on this machine
                ray.init(address="local", num_cpus=workers or os.cpu_count(), include_dashboard=False,
                         logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise StrikePoseError(f"could not start or join {where} ({str(exc).splitlines()[0]}); check the "
                                  "address (ray start --head prints it) or use --backend local") from None
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        # With GPUs, one worker per GPU by default: Ray gives each its own (CUDA_VISIBLE_DEVICES), so
        # each model runs on a GPU of its own; without, one per CPU core. More workers than GPUs or
        # cores share them (a fraction each), so that every worker can start.
        cpus = int(resources.get("CPU", 1))
        count = workers or max(1, gpus or cpus)
        actor_class = ray.remote(num_cpus=min(1.0, cpus / count), num_gpus=min(1.0, gpus / count) if gpus else 0,
                                 max_restarts=-1, max_task_retries=-1)(Worker)
        actors = [actor_class.remote(torch_threads=1) for _ in range(min(count, len(items)))]
        queue = list(reversed(items))
        running = {}
        for actor in actors:
            if queue:
                item = queue.pop()
                running[actor.run.remote(item)] = (actor, item)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            ref = ready[0]
            actor, item = running.pop(ref)
            try:
                rows = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # an error in our code: report it as ours
                cause = exc.cause if hasattr(exc, "cause") else exc
                if isinstance(cause, StrikePoseError):
                    raise cause from None
                raise
            yield item, rows
            if queue:
                next_item = queue.pop()
                running[actor.run.remote(next_item)] = (actor, next_item)
    finally:
        if started_here:
            ray.shutdown()
