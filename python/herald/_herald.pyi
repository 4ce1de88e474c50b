"""Type hints for Herald's extension module (re-exported by ``herald``)."""

import os
from types import TracebackType
from typing import Callable, Iterable, Iterator, Literal, Mapping, Optional, Union, overload

__version__: str
DEFAULT_GROUP: str
"""The default multicast group and port, ``"239.255.72.68:7268"``."""

Data = Union[bytes, bytearray, str]
"""Message data: bytes, or text sent as UTF-8."""

Targets = Union[str, Iterable[str]]
"""A peer's name, several names, or ``"all"`` (every live peer)."""

class HeraldError(Exception):
    """The base of every Herald error."""

class StartError(HeraldError):
    """A node could not start (its sockets, its interface, its name)."""

class NameTakenError(StartError):
    """Another live node on the LAN already uses this name: choose another one."""

class InterfaceError(StartError):
    """The interface given is unknown or has no IPv4 address."""

class KeyFileError(HeraldError):
    """The key file cannot be used: unreadable, not hex or base64, too short, or readable by others."""

class ClosedError(HeraldError):
    """The node was closed: nothing more can be done with it."""

class Message:
    """A message on a subscribed topic."""

    @property
    def topic(self) -> Optional[str]:
        """The topic it was published on; ``None`` for a direct message (``Node.send``)."""
    @property
    def payload(self) -> bytes:
        """The message's bytes."""
    @property
    def sender(self) -> str:
        """The publisher's name."""
    @property
    def text(self) -> Optional[str]:
        """The payload decoded as UTF-8 text, or ``None`` when it is not text."""

class Missed:
    """A gap: publisher ``sender`` dropped ``count`` messages on ``topic`` for this slow reader.

    It stands exactly where the gap is in the subscription.
    """

    @property
    def sender(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def count(self) -> int: ...

class Subscription(Iterator[Union[Message, Missed]]):
    """The messages on a topic pattern, in order per publisher (from ``Node.subscribe``).

    Iterate over it, or take one item at a time with ``recv(timeout)``. Each item is a ``Message``, or
    a ``Missed`` notice where a publisher had to drop messages for this slow reader. Iteration ends when
    the node is closed. Waiting releases the GIL; Ctrl-C interrupts it.
    """

    @property
    def pattern(self) -> str:
        """The pattern subscribed to."""
    def __iter__(self) -> "Subscription": ...
    def __next__(self) -> Union[Message, Missed]: ...
    def recv(self, timeout: Optional[float] = None) -> Union[Message, Missed, None]:
        """The next item, waiting up to ``timeout`` seconds (``None``: for ever); ``None`` if nothing came.

        Raises ``ClosedError`` once the node is closed.
        """

class Peer:
    """A live peer, as this node sees it."""

    @property
    def name(self) -> str:
        """Its unique name on the LAN."""
    @property
    def kind(self) -> str:
        """What sort of program it is: ``"herald"``, ``"cli"``, or a legacy kind (``"pythonconnect"``, ...)."""
    @property
    def addr(self) -> str:
        """Its IP address."""
    @property
    def services(self) -> dict[str, tuple[str, int]]:
        """Its services: name to ``(ip, port)``."""
    @property
    def topics(self) -> list[str]:
        """The topic patterns it subscribes to."""
    @property
    def node_id(self) -> str:
        """Its node id (32 hex digits)."""
    @property
    def via(self) -> Optional[str]:
        """For a legacy program or a peer at another site, the id of the Herald node it is reached through; else ``None``."""
    @property
    def site(self) -> Optional[str]:
        """For a peer at another site (joined through NATS), the site's name; else ``None``."""
    @property
    def txt(self) -> dict[str, str]:
        """For a service found by DNS-SD (kind ``"mdns"``), its TXT records, key to value; else empty."""

class Event:
    """Something that happened on the node (from ``Node.events()``)."""

    @property
    def kind(
        self,
    ) -> Literal[
        "joined", "changed", "left", "lost", "message", "missed", "answer_failed", "refused", "name_conflict", "lagged"
    ]:
        """What happened: a peer ``joined``, ``changed``, ``left`` or was ``lost``; a direct ``message``; ..."""
    @property
    def name(self) -> Optional[str]:
        """The peer or sender concerned (``None`` for ``lagged``)."""
    @property
    def peer(self) -> Optional[Peer]:
        """The peer, for peer events."""
    @property
    def message(self) -> Optional[Message]:
        """The message, for ``message`` events."""
    @property
    def detail(self) -> Optional[str]:
        """What went wrong (``answer_failed``, ``refused``), the topic (``missed``), or an address."""
    @property
    def count(self) -> Optional[int]:
        """Messages dropped (``missed``) or events missed (``lagged``)."""

class Events(Iterator[Event]):
    """The node's events, from ``Node.events()``; iteration ends when the node is closed."""

    def __iter__(self) -> "Events": ...
    def __next__(self) -> Event: ...

class Outcome:
    """One peer's outcome of a question (``ask(..., outcomes=True)``)."""

    @property
    def answered(self) -> bool:
        """True when the peer answered in time."""
    @property
    def answer(self) -> Union[str, bytes, None]:
        """The answer (``str`` when UTF-8, else ``bytes``), or ``None``."""
    @property
    def latency_ms(self) -> Optional[int]:
        """Milliseconds from asking to the answer, or ``None``."""
    @property
    def reason(self) -> Optional[Literal["timeout", "unknown_peer", "peer_left", "failed"]]:
        """Why there is no answer; ``None`` when answered."""
    @property
    def detail(self) -> Optional[str]:
        """What failed, for ``"failed"`` (the answerer's error); else ``None``."""

class Node:
    """A Herald node: joins the LAN (or the interface given) under ``name`` and stays until ``close()``.

    A context manager: leaving the ``with`` block leaves the LAN gracefully and stops the node's threads.

    Raises ``NameTakenError`` when another live node has the name, ``InterfaceError`` for an unknown
    interface, ``KeyFileError`` for a key file that cannot be used, ``StartError`` when the sockets
    cannot be opened.
    """

    def __init__(
        self,
        name: Optional[str] = None,
        *,
        interface: Optional[str] = None,
        group: Union[str, int, None] = None,
        port: int = 0,
        services: Optional[Mapping[str, int]] = None,
        key_file: Union[str, "os.PathLike[str]", None] = None,
        state_dir: Union[str, "os.PathLike[str]", None] = None,
        heartbeat: Optional[float] = None,
        threads: int = 1,
        overflow: Optional[Literal["drop-oldest", "disconnect", "block"]] = None,
        subscriber_limit: Optional[int] = None,
    ) -> None:
        """Starts a node.

        :param name: unique on the LAN (default: the host name).
        :param interface: an IPv4 address (``"127.0.0.1"``) or an interface name (``"eth0"``); default: the
            LAN interface the routing table picks.
        :param group: the multicast group as ``"ADDR:PORT"``, or a port of the default group (default
            ``"239.255.72.68:7268"``).
        :param port: TCP port for links from other nodes (0: any free port).
        :param services: ``{name: port}`` to advertise at this host's address.
        :param key_file: the LAN's shared key file (``herald keygen``); without one nothing is authenticated.
        :param state_dir: where the node id for this name is kept (default ``$XDG_STATE_HOME/herald``).
        :param heartbeat: seconds between beacons (default 1).
        :param threads: the node's worker threads (default 1).
        :param overflow: what a full link queue to a slow subscriber does: ``"drop-oldest"`` (default; the
            subscriber gets a ``Missed`` item), ``"disconnect"``, or ``"block"`` (lossless: ``publish`` waits).
        :param subscriber_limit: as a publisher, at most this many subscribers per pattern (first come, first
            served; the others are refused and told).
        """
    @property
    def name(self) -> str:
        """This node's name."""
    @property
    def id(self) -> str:
        """This node's id (32 hex digits)."""
    @property
    def closed(self) -> bool:
        """True once the node is closed."""
    def peers(self) -> list[Peer]:
        """Every live peer, by name."""
    def lookup(self, service: str, *, wait: float = 0.0) -> list[tuple[str, int]]:
        """Every live provider of ``service`` (this node included) as ``(ip, port)``, by provider name.

        With ``wait``, waits up to that many seconds for a first provider.
        """
    def advertise(self, service: str, port: int) -> None:
        """Advertises ``service`` at ``port`` of this host (or moves it); peers see it at once."""
    def withdraw(self, service: str) -> None:
        """Stops advertising ``service``."""
    def publish(self, topic: str, data: Data) -> int:
        """Publishes ``data`` on ``topic`` to every subscriber (this node included); returns how many."""
    @overload
    def subscribe(self, pattern: str) -> Subscription: ...
    @overload
    def subscribe(self, pattern: str, *, callback: Callable[[Union[Message, Missed]], object]) -> None: ...
    def subscribe(self, pattern: str, *, callback=None):  # type: ignore[misc]
        """Subscribes to a topic pattern (``"chat"``, ``"sensors.*"``); an iterator of messages.

        With ``callback``, returns ``None`` and calls ``callback(item)`` for each ``Message`` or ``Missed``
        item instead, in a thread of its own until the node is closed (an exception in it is printed and
        the messages go on).
        """
    def send(self, to: Targets, data: Data) -> dict[str, str]:
        """Sends a direct message; each name's outcome: ``"queued"``, ``"unknown_peer"`` or ``"not_queued: ..."``."""
    @overload
    def ask(
        self, to: Targets, question: Data, timeout: float = 2.0, *, outcomes: Literal[False] = False
    ) -> dict[str, Union[str, bytes, None]]: ...
    @overload
    def ask(
        self, to: Targets, question: Data, timeout: float = 2.0, *, outcomes: Literal[True]
    ) -> dict[str, Outcome]: ...
    def ask(self, to: Targets, question: Data, timeout: float = 2.0, *, outcomes: bool = False) -> dict:  # type: ignore[misc]
        """Asks peers a question and waits up to ``timeout`` seconds.

        Returns ``{name: answer}``: ``str`` when the answer is UTF-8 text, else ``bytes``, or ``None`` for
        a peer that gave none. With ``outcomes=True``, each value is an ``Outcome`` saying why.
        Ctrl-C interrupts the wait.
        """
    def answer_with(self, callback: Optional[Callable[[bytes, str], Union[str, bytes]]]) -> None:
        """Answers peers' questions with ``callback(question, sender)`` from now on.

        The callback runs in a worker thread of its own, one question at a time, within each asker's
        timeout; an exception becomes a failed answer. ``None`` puts back the built-in answers (``ping``,
        ``info``).
        """
    def events(self) -> Events:
        """What happens on the node from now on, as an iterator of ``Event`` items.

        Peers ``joined``, ``changed``, ``left`` or ``lost``; direct ``message``s; ``answer_failed``,
        ``refused``, ``missed``, ``name_conflict``; ``lagged`` when this reader fell behind.
        """
    def on_peers(self, callback: Callable[[str, Peer], object]) -> None:
        """Calls ``callback(change, peer)`` for each peer change from now on, in a thread of its own.

        ``change`` is ``"joined"``, ``"changed"``, ``"left"`` or ``"lost"``. An exception in the callback
        is printed and the watching goes on.
        """
    def stats(self) -> dict[str, int]:
        """Every counter of the node (drops, refusals, links, questions) by name."""
    def subscribers(self, topic: str) -> list[str]:
        """The names of the peers a message on ``topic`` would go to."""
    def close(self) -> None:
        """Leaves the LAN gracefully and stops the node's threads; closing again does nothing."""
    def __enter__(self) -> "Node": ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
