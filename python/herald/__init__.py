"""Herald for Python: find programs on your LAN and talk to them.

A ``herald.Node`` is a full Herald peer (the Rust node runs inside): it discovers
the other nodes, advertises and looks up services, publishes and subscribes to
topics, sends direct messages, and asks and answers questions::

    import herald

    with herald.Node("kitchen", interface="127.0.0.1") as node:
        node.publish("sensors.kitchen", "21.5 C")
        print(node.ask("all", "ping"))            # {"printer": "pong", ...}
        for message in node.subscribe("sensors.*"):
            print(message.sender, message.topic, message.payload)

Blocking calls release the GIL, and Ctrl-C interrupts them. ``herald.asyncio`` has
the same names, awaitable.
"""

from ._herald import (
    DEFAULT_GROUP,
    ClosedError,
    Event,
    Events,
    HeraldError,
    InterfaceError,
    KeyFileError,
    Message,
    Missed,
    NameTakenError,
    Node,
    Outcome,
    Peer,
    StartError,
    Subscription,
    __version__,
)

__all__ = [
    "DEFAULT_GROUP",
    "ClosedError",
    "Event",
    "Events",
    "HeraldError",
    "InterfaceError",
    "KeyFileError",
    "Message",
    "Missed",
    "NameTakenError",
    "Node",
    "Outcome",
    "Peer",
    "StartError",
    "Subscription",
    "__version__",
]
