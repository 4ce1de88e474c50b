"""Herald for asyncio: the same names as ``herald``, awaitable, so code moves between the two by changing the
import (as with ``zmq`` and ``zmq.asyncio``)::

    import herald.asyncio as herald

    async def main():
        async with herald.Node("kitchen", interface="127.0.0.1") as node:
            await node.publish("sensors.kitchen", "21.5 C")
            print(await node.ask("all", "ping"))
            async for message in node.subscribe("sensors.*"):
                print(message.sender, message.topic, message.payload)

The node itself is ``herald.Node`` (its own threads run the network). Waiting calls (``ask``, ``send``,
closing) run in the event loop's default executor, and each subscription or event stream being iterated has one
thread of its own feeding a bounded queue, so the event loop never blocks. A subscription whose reader is slow
fills that queue, then the node's own (the publisher's overflow policy then decides, and ``Missed`` items say
what was dropped). Callbacks (``answer_with``, ``on_peers``) may be coroutine functions: they run on the loop
that registered them.
"""

import asyncio
import functools
import inspect
import threading
from typing import Any, Callable, Optional

from . import __all__ as _NAMES
from . import _herald
from ._herald import *  # noqa: F401,F403 (the same names as ``herald``; Node and the streams are redefined below)
from ._herald import ClosedError, __version__  # noqa: F401

QUEUE = 1024
"""Items a stream being iterated holds for a slow ``async for`` before its feeding thread waits."""

_END = object()


class _Stream:
    """An async iterator over a blocking iterator (a ``Subscription`` or ``Events``), fed by a thread of its
    own into a bounded queue; nothing is lost when the reading task is cancelled."""

    def __init__(self, sync):
        self._sync = sync
        self._queue: Optional[asyncio.Queue] = None
        self._thread: Optional[threading.Thread] = None

    def _start(self):
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(QUEUE)

        def feed():
            try:
                for item in self._sync:
                    asyncio.run_coroutine_threadsafe(self._queue.put(item), loop).result()
            except RuntimeError:
                return  # the loop is closed: nobody is reading any more
            try:
                asyncio.run_coroutine_threadsafe(self._queue.put(_END), loop).result()
            except RuntimeError:
                pass

        self._thread = threading.Thread(target=feed, name="herald-async-feed", daemon=True)
        self._thread.start()

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._queue is None:
            self._start()
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)
            raise StopAsyncIteration
        return item


class Subscription(_Stream):
    """The messages on a topic pattern (from ``Node.subscribe``): ``async for`` gives ``Message`` and
    ``Missed`` items; ``await recv(timeout)`` takes one. Iteration ends when the node is closed."""

    @property
    def pattern(self) -> str:
        return self._sync.pattern

    async def recv(self, timeout: Optional[float] = None):
        """The next item, waiting up to ``timeout`` seconds (``None``: for ever); ``None`` if nothing came."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except asyncio.TimeoutError:
            return None
        except StopAsyncIteration:
            raise ClosedError("the node is closed") from None


class Events(_Stream):
    """The node's events (from ``Node.events()``): ``async for`` gives ``Event`` items."""


def _on_loop(callback: Callable, loop: asyncio.AbstractEventLoop) -> Callable:
    """A plain callable for Herald's threads: coroutine functions run on `loop`, and their result is waited
    for; plain functions are called as they are."""
    if not inspect.iscoroutinefunction(callback):
        return callback

    @functools.wraps(callback)
    def call(*args):
        return asyncio.run_coroutine_threadsafe(callback(*args), loop).result()

    return call


class Node:
    """A Herald node for asyncio programs: ``herald.Node``'s arguments and methods, awaitable.

    Use ``async with herald.asyncio.Node(...) as node:`` (or ``await node.close()``).
    """

    def __init__(self, name: Optional[str] = None, **kwargs: Any):
        self._node = _herald.Node(name, **kwargs)

    @property
    def sync(self) -> "_herald.Node":
        """The blocking ``herald.Node`` underneath."""
        return self._node

    @property
    def name(self) -> str:
        return self._node.name

    @property
    def id(self) -> str:
        return self._node.id

    @property
    def closed(self) -> bool:
        return self._node.closed

    async def __aenter__(self) -> "Node":
        return self

    async def __aexit__(self, *exc) -> bool:
        await self.close()
        return False

    async def _run(self, function, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(function, *args, **kwargs))

    def peers(self):
        """Every live peer, by name (no waiting)."""
        return self._node.peers()

    async def lookup(self, service: str, *, wait: float = 0.0):
        """Every live provider of ``service`` as ``(ip, port)``; with ``wait``, waits for a first one."""
        if wait <= 0:
            return self._node.lookup(service)
        return await self._run(self._node.lookup, service, wait=wait)

    def advertise(self, service: str, port: int) -> None:
        self._node.advertise(service, port)

    def withdraw(self, service: str) -> None:
        self._node.withdraw(service)

    async def publish(self, topic: str, data) -> int:
        """Publishes ``data`` on ``topic`` (it never waits for a connection, so it runs on the loop)."""
        return self._node.publish(topic, data)

    def subscribe(self, pattern: str) -> Subscription:
        """Subscribes to a topic pattern; an async iterator of ``Message`` and ``Missed`` items."""
        return Subscription(self._node.subscribe(pattern))

    def events(self) -> Events:
        """What happens on the node from now on, as an async iterator of ``Event`` items."""
        return Events(self._node.events())

    async def send(self, to, data):
        """Sends a direct message; each name's outcome (see ``herald.Node.send``)."""
        return await self._run(self._node.send, to, data)

    async def ask(self, to, question, timeout: float = 2.0, *, outcomes: bool = False):
        """Asks peers a question; ``{name: answer or None}`` (see ``herald.Node.ask``)."""
        return await self._run(self._node.ask, to, question, timeout, outcomes=outcomes)

    def answer_with(self, callback: Optional[Callable]) -> None:
        """Answers questions with ``callback(question, sender)``, a function or a coroutine function (run on
        this loop); ``None`` puts back the built-in answers."""
        if callback is not None:
            callback = _on_loop(callback, asyncio.get_running_loop())
        self._node.answer_with(callback)

    def on_peers(self, callback: Callable) -> None:
        """Calls ``callback(change, peer)`` for each peer change (a coroutine function runs on this loop)."""
        self._node.on_peers(_on_loop(callback, asyncio.get_running_loop()))

    def stats(self):
        return self._node.stats()

    def subscribers(self, topic: str):
        return self._node.subscribers(topic)

    async def close(self) -> None:
        """Leaves the LAN gracefully and stops the node's threads."""
        await self._run(self._node.close)

    def __repr__(self) -> str:
        return f"asyncio {self._node!r}"


__all__ = list(_NAMES)
