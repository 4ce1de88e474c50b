"""pythonConnect's ``Connect``, over Herald: change ``from connect import Connect`` to
``from herald.compat.connect import Connect`` and the program runs on a Herald LAN::

    def fr(message, sender):
        print(sender, "says", message)

    def fa(question, sender):
        return "42"

    device = Connect(fr=fr, fa=fa, name="alpha")
    device.sendMessage("hello", "toAll")                 # a name, a list of names, or "toAll"
    print(device.askDevice("the answer?", ["bravo"]))   # {"bravo": "42"}; "" when no answer came in time
    device.leavingNetwork()

The callbacks are pythonConnect's: ``fr(message, sender)`` for each message (from a thread pool),
``fhu(remote_devices)`` when the list of devices changes (a dict by name; each value has ``addr``),
``fe(error)`` with the failing message or question when ``fr`` or ``fa`` raised, ``fa(question, sender) ->
str`` to answer. Messages and answers are text. ``multicast_ip`` and ``port`` (the old wire's group) are
accepted and unused: Herald's discovery finds the devices; other keyword arguments go to ``herald.Node``
(``interface``, ``group``, ``key_file``, ...).
"""

import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Union

from .._herald import Node

RECEIVE_THREADS = 4
"""Threads running ``fr``, as pythonConnect's pool did."""


class Device:
    """A remote device, as ``fhu`` sees it: its ``name`` and ``addr`` (its IP address)."""

    def __init__(self, name: str, addr: str):
        self.name = name
        self.addr = addr

    def __repr__(self) -> str:
        return f"Device({self.name!r}, addr={self.addr!r})"


def _text(data: Union[str, bytes]) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


class Connect:
    """A device on the LAN with pythonConnect's calls; the network starts at once."""

    def __init__(
        self,
        fr: Optional[Callable[[str, str], None]] = None,
        fhu: Optional[Callable[[Dict[str, Device]], None]] = None,
        fe: Optional[Callable[[str], None]] = None,
        fa: Optional[Callable[[str, str], str]] = None,
        name: Optional[str] = None,
        multicast_ip: Optional[str] = None,
        port: Optional[int] = None,
        **node_options,
    ):
        self._fr, self._fhu, self._fe, self._fa = fr, fhu, fe, fa
        self._node = Node(name, **node_options)
        self.name = self._node.name
        self._devices: Dict[str, Device] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(RECEIVE_THREADS, thread_name_prefix="connect-fr")
        events = self._node.events()
        if fa is not None:
            self._node.answer_with(self._answer)
        self._watcher = threading.Thread(target=self._watch, args=(events,), name="connect-events", daemon=True)
        self._watcher.start()

    def _watch(self, events):
        for event in events:
            if event.kind in ("joined", "changed", "left", "lost"):
                self._update(event)
            elif event.kind == "message" and event.message.topic is None:
                self._pool.submit(self._receive, _text(event.message.payload), event.name)

    def _update(self, event):
        with self._lock:
            before = dict(self._devices)
            if event.kind in ("left", "lost"):
                self._devices.pop(event.name, None)
            elif event.peer.kind != "cli":  # herald's one-shot commands come and go: not devices
                self._devices[event.name] = Device(event.name, event.peer.addr)
            changed = {n: d.addr for n, d in before.items()} != {n: d.addr for n, d in self._devices.items()}
            devices = dict(self._devices)
        if changed and self._fhu is not None:
            self._call(self._fhu, devices)

    def _receive(self, message: str, sender: str):
        if self._fr is None:
            return
        try:
            self._fr(message, sender)
        except Exception:
            self._failed(message)

    def _answer(self, question: bytes, sender: str) -> str:
        text = _text(question)
        try:
            return str(self._fa(text, sender))
        except Exception:
            self._failed(text)
            raise

    def _failed(self, what: str):
        if self._fe is not None:
            self._call(self._fe, what)

    @staticmethod
    def _call(callback, *args):
        try:
            callback(*args)
        except Exception:
            # Printed, and the network goes on (pythonConnect did not let a callback's error stop it either).
            traceback.print_exc()

    @staticmethod
    def _targets(dest: Union[str, List[str]]):
        return "all" if dest == "toAll" else dest

    def sendMessage(self, message, dest: Union[str, List[str]]) -> None:
        """Sends ``message`` (text) to ``dest``: a device's name, a list of names, or ``"toAll"``."""
        self._node.send(self._targets(dest), str(message))

    def askDevice(self, question, dest: Union[str, List[str]], timeout: float = 2) -> Dict[str, str]:
        """Asks ``dest`` (a name or a list) ``question`` and waits up to ``timeout`` seconds: ``{name: answer}``,
        with ``""`` for a device that did not answer in time."""
        answers = self._node.ask(self._targets(dest), str(question), timeout)
        return {name: "" if answer is None else _text(answer) for name, answer in answers.items()}

    def leavingNetwork(self) -> None:
        """Stops advertising and leaves the network."""
        self._node.close()
        self._watcher.join(timeout=5)
        self._pool.shutdown(wait=True)

    @property
    def remote_devices(self) -> Dict[str, Device]:
        """The devices known now, by name."""
        with self._lock:
            return dict(self._devices)
