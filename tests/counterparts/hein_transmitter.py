"""A hein 0.2.3 SocTransmitter, written from LEGACY-WIRE.md (section 1) for Herald's interop tests.

Listens on a TCP port; per connection: ACK, the name read with one recv(15) within 5 s, ACK, registered
(at most --max-receivers; a name seen again replaces the old connection). Then it sends the --send lines to
every receiver, one frame per line, waiting up to 1 s for the receiver's ACK after each (a receiver that does
not acknowledge is dropped), and repeats every --interval-ms.

    hein_transmitter.py --port P [--bind ADDR] [--max-receivers N] --send JSON [--send JSON ...]
                        [--interval-ms 50] [--repeat K] [--wait-receivers 1] [--seconds S]

Each --send is {"raw": TEXT, "tag": T} or {"jsn": VALUE, "tag": T} or {"ping": true}.
Events (JSON lines): receiver {name}, sent {index}, dropped {name}.
"""
import argparse
import json
import select
import socket
import time

from common import Deadline, emit

ACK = b"\x06"
TERM = b"\xac\x96\xac\x96"


def extended(value):
    """A value in hein's extended JSON: scalars as "<code>:<text>" strings, no spaces."""
    if value is None:
        return '"n:"'
    if isinstance(value, bool):
        return '"b:%d"' % value
    if isinstance(value, int):
        return '"i:%d"' % value
    if isinstance(value, float):
        return '"f:%r"' % value
    if isinstance(value, str):
        return '"u:%s"' % value
    if isinstance(value, list):
        return "[" + ",".join(extended(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join('"%s":%s' % (k, extended(v)) for k, v in value.items()) + "}"
    return '"u:%r"' % (value,)


def clean_tag(tag):
    tag = (tag or "")[:15]
    return "".join(c for c in tag if c.isalnum() or c in ".-_ ")


def frame(spec):
    tag = clean_tag(spec.get("tag")).encode("latin-1")
    if "raw" in spec:
        key, flag, body = b"__raw__", b"0", spec["raw"].encode("utf-8")
    elif "jsn" in spec:
        key, flag, body = b"__jsn__", b"1", extended(spec["jsn"]).encode("utf-8")
    else:
        key, flag, body, tag = b"__png__", b"1", b"", b""
    return key + tag + b":" + flag + b":" + body.replace(b"\xac\x96", b"\xac\x96\xee") + TERM


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="")
    parser.add_argument("--max-receivers", type=int, default=5)
    parser.add_argument("--send", action="append", default=[])
    parser.add_argument("--interval-ms", type=float, default=50)
    parser.add_argument("--repeat", type=int, default=0)
    parser.add_argument("--wait-receivers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    lines = [frame(json.loads(s)) for s in args.send]
    deadline = Deadline(args.seconds)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.bind, args.port))
    server.listen(max(1, min(5, args.max_receivers)))
    receivers = {}
    rounds = 0
    next_round = time.monotonic()
    while not deadline.passed():
        ready, _, _ = select.select([server], [], [], 0.05)
        if ready:
            conn, _ = server.accept()
            conn.settimeout(5.0)
            try:
                conn.sendall(ACK)
                name = conn.recv(15).decode("latin-1")
            except OSError:
                name = ""
            if not name or (name not in receivers and len(receivers) >= args.max_receivers):
                conn.close()
            else:
                old = receivers.pop(name, None)
                if old:
                    old.close()
                conn.sendall(ACK)
                receivers[name] = conn
                emit(event="receiver", name=name)
        if len(receivers) < args.wait_receivers or time.monotonic() < next_round:
            continue
        if args.repeat and rounds >= args.repeat:
            continue
        rounds += 1
        next_round = time.monotonic() + args.interval_ms / 1000.0
        for index, line in enumerate(lines):
            for name, conn in list(receivers.items()):
                try:
                    conn.settimeout(1.0)
                    conn.sendall(line)
                    if conn.recv(1) != ACK:
                        raise OSError("no ack")
                except OSError:
                    receivers.pop(name).close()
                    emit(event="dropped", name=name)
            emit(event="sent", index=index)
    for conn in receivers.values():
        conn.close()
    server.close()


if __name__ == "__main__":
    main()
