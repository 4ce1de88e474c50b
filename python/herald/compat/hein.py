"""hein's ``SocTransmitter`` and ``SocReceiver``, over Herald: change ``from hein import SocTransmitter`` (or
``SocReceiver``) to ``from herald.compat.hein import ...`` and the program runs on a Herald LAN::

    tx = SocTransmitter(5005, 2)                     # on one host
    tx.tell_raw("hello", tag="greeting")
    tx.tell({"temperature": 21.5, "at": datetime.now()})

    class Printer(SocReceiver):                      # on any other host
        def process(self, data, tag):
            print(tag, data)

    Printer(5005, "printer")

A port is a Herald topic, ``hein.<port>``: the transmitter is a Herald node (``hein-tx-<port>``, or
``portname``) publishing on it, each receiver a node (its ``name``, cut to 15 characters as hein did)
subscribing to it, found by discovery wherever it runs (``hostname`` is accepted and unused). At most
``nreceivermax`` receivers (1 to 5) are served, first come first served. Each message is a small JSON envelope
(``{"tag": ..., "raw": ...}``, ``{"tag": ..., "value": ..., "unpack": ...}``), so ``herald subscribe hein.5005``
shows it readably; ``tell``'s values are hein's extended JSON (``datetime``, ``date``, ``time`` and ``bytes``
come back as themselves). Other keyword arguments go to ``herald.Node`` (``interface``, ``group``,
``key_file``, ...). These talk Herald among themselves; to reach an unchanged hein program, use the node's
hein gateway (``herald node --hein-serve`` / ``--hein-connect``).
"""

import base64
import datetime
import json
import threading
from typing import Any, Optional, Union

from .._herald import Node

MAX_RECEIVERS = 5
"""hein's own bound on a transmitter's receivers."""

NAME_LEN = 15
"""hein cut receiver names to this many characters."""


def topic(port: int) -> str:
    """The Herald topic standing for a hein port."""
    return f"hein.{int(port)}"


def _encode(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"__date__": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"__time__": value.isoformat()}
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"hein cannot send a {type(value).__name__}")


def _decode(obj: dict) -> Any:
    if len(obj) == 1:
        (key, text), = obj.items()
        if key == "__datetime__":
            return datetime.datetime.fromisoformat(text)
        if key == "__date__":
            return datetime.date.fromisoformat(text)
        if key == "__time__":
            return datetime.time.fromisoformat(text)
        if key == "__bytes__":
            return base64.b64decode(text)
    return obj


class Message:
    """What ``process`` gets for a value sent with ``unpack=False``: the value is in ``message``."""

    def __init__(self, message: Any, tag: Optional[str] = None):
        self.message = message
        self.tag = tag

    def __repr__(self) -> str:
        return f"Message({self.message!r}, tag={self.tag!r})"


class SocTransmitter:
    """hein's transmitter: sends to up to ``nreceivermax`` receivers of ``port``."""

    def __init__(self, port: int, nreceivermax: int = 1, start: bool = True, portname: str = "",
                 timeoutACK: float = 1.0, **node_options):
        self.port = int(port)
        self.nreceivermax = max(1, min(MAX_RECEIVERS, int(nreceivermax)))
        self.portname = portname
        self.timeoutACK = timeoutACK
        self._topic = topic(self.port)
        self._options = node_options
        self._node: Optional[Node] = None
        if start:
            self.start()

    def start(self) -> None:
        """Starts sending (joins the LAN as ``hein-tx-<port>``, or ``portname``)."""
        if self._node is None or self._node.closed:
            name = self.portname or f"hein-tx-{self.port}"
            self._node = Node(name, subscriber_limit=self.nreceivermax, **self._options)

    def close(self) -> None:
        """Stops sending and leaves the LAN."""
        if self._node is not None:
            self._node.close()

    @property
    def nreceivers(self) -> int:
        """Receivers connected now."""
        if self._node is None or self._node.closed:
            return 0
        return min(len(self._node.subscribers(self._topic)), self.nreceivermax)

    def ping(self) -> bool:
        """True when at least one receiver is connected."""
        return self.nreceivers > 0

    def _send(self, envelope: dict) -> bool:
        if self._node is None or self._node.closed:
            return False
        self._node.publish(self._topic, json.dumps(envelope, default=_encode, separators=(",", ":")))
        return True

    def tell_raw(self, txt: Union[str, bytes], tag: Optional[str] = None) -> bool:
        """Sends text or bytes (not empty) to every receiver; False when there is nothing to send."""
        if isinstance(txt, (bytes, bytearray)) and len(txt) > 0:
            return self._send({"tag": tag, "raw_base64": base64.b64encode(bytes(txt)).decode()})
        if isinstance(txt, str) and txt:
            return self._send({"tag": tag, "raw": txt})
        return False

    def tell(self, v: Any, tag: Optional[str] = None, unpack: bool = True) -> bool:
        """Sends a value of hein's extended JSON (dict, list, numbers, bool, None, str, bytes, datetime, date,
        time); receivers get it as it was (in a ``Message`` when ``unpack`` is False)."""
        return self._send({"tag": tag, "value": v, "unpack": bool(unpack)})

    def _deprecated(self, *args, **kwargs) -> bool:
        print("hein: this tell_* method is deprecated; use tell() or tell_raw()")
        return False

    tell_json = tell_dict = tell_list = tell_key = tell_str = tell_int = tell_float = _deprecated


class SocReceiver:
    """hein's receiver: ``process(data, tag)`` is called for each message sent to ``port``; a program
    subclasses it or replaces ``process``."""

    def __init__(self, port: int, name: str, buffer_size: int = 1024, connect: bool = True,
                 connectWait: float = 0.5, portname: str = "", hostname: Optional[str] = None, **node_options):
        self.port = int(port)
        self.name = str(name)[:NAME_LEN]
        self.buffer_size = buffer_size
        self.connectWait = connectWait
        self.portname = portname
        self.hostname = hostname
        self._options = node_options
        self._node: Optional[Node] = None
        self._lock = threading.Lock()
        if connect:
            self.connect()

    def connect(self) -> None:
        """Joins the LAN and subscribes to the port's topic (does nothing when already running)."""
        with self._lock:
            if self._node is not None and not self._node.closed:
                return
            self._node = Node(self.name, **self._options)
            self._node.subscribe(topic(self.port), callback=self._deliver)

    def close(self) -> None:
        """Stops receiving and leaves the LAN."""
        with self._lock:
            if self._node is not None:
                self._node.close()

    @property
    def running(self) -> bool:
        return self._node is not None and not self._node.closed

    @property
    def connected(self) -> bool:
        """True when a transmitter for this port is on the LAN."""
        if not self.running:
            return False
        wanted = self.portname or f"hein-tx-{self.port}"
        return any(peer.name == wanted for peer in self._node.peers())

    def _deliver(self, item) -> None:
        payload = getattr(item, "payload", None)
        if payload is None:
            return  # a Missed notice: hein had no such thing
        envelope = json.loads(payload, object_hook=_decode)
        tag = envelope.get("tag")
        if "raw" in envelope:
            data = envelope["raw"]
        elif "raw_base64" in envelope:
            data = base64.b64decode(envelope["raw_base64"])
        else:
            data = envelope.get("value")
            if not envelope.get("unpack", True):
                data = Message(data, tag)
        self.process(data, tag)

    def process(self, data: Any, tag: Optional[str]) -> None:
        """Called for each message; the default prints it."""
        print(f"{self.name}: {tag}: {data!r}")
