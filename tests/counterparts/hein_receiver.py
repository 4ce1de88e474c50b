"""A hein 0.2.3 SocReceiver, written from LEGACY-WIRE.md (section 1) for Herald's interop tests.

Connects to a transmitter, waits for the ACK byte, sends its name (at most 15 bytes, Latin-1, one segment),
waits for the second ACK, then reads frames: split on AC 96 AC 96, AC 96 EE restored to AC 96, KEY(7) TAG ":"
FLAG ":" BODY. One ACK per recv() that completed at least one frame, sent before the frames are handled.
__die__ closes and, like hein, reconnects after 0.5 s; so does any failure.

    hein_receiver.py --host H --port P --name NAME [--count N] [--seconds S] [--no-ack-after K]

Events (JSON lines): connected, frame {kind, tag, flag, body_hex, body_text[, value]}, disconnected.
"""
import argparse
import json
import socket
import time

from common import Deadline, emit

ACK = b"\x06"
TERM = b"\xac\x96\xac\x96"
ESC = b"\xac\x96\xee"


def decode_extended(text):
    """hein's extended JSON (every scalar a "<code>:<text>" string) as plain JSON."""

    def leaf(value):
        if isinstance(value, list):
            return [leaf(v) for v in value]
        if isinstance(value, dict):
            return {k: leaf(v) for k, v in value.items()}
        if not isinstance(value, str) or ":" not in value:
            return None
        code, rest = value.split(":", 1)
        if code == "i":
            return int(rest)
        if code == "f":
            return float(rest)
        if code == "b":
            return rest == "1"
        if code == "n":
            return None
        if code in ("u", "y", "Y", "s"):
            return rest
        return None

    return leaf(json.loads(text, strict=False))


def handshake(sock, name):
    sock.settimeout(1.0)
    if sock.recv(1) != ACK:
        return False
    sock.sendall(name.encode("latin-1")[:15])
    return sock.recv(1) == ACK


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-ack-after", type=int, default=-1)
    args = parser.parse_args()
    deadline = Deadline(args.seconds)
    frames = 0
    while not deadline.passed():
        try:
            sock = socket.create_connection((args.host, args.port), timeout=1.0)
        except OSError:
            time.sleep(0.5)
            continue
        try:
            if not handshake(sock, args.name):
                sock.close()
                time.sleep(0.5)
                continue
        except OSError:
            sock.close()
            time.sleep(0.5)
            continue
        emit(event="connected")
        buffer = b""
        died = False
        while not deadline.passed() and not died:
            sock.settimeout(min(0.5, deadline.left()) or 0.01)
            try:
                data = sock.recv(1024)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            buffer += data
            pieces = buffer.split(TERM)
            buffer = pieces.pop()
            if not pieces:
                continue
            if args.no_ack_after < 0 or frames < args.no_ack_after:
                sock.sendall(ACK)
            for piece in pieces:
                piece = piece.replace(ESC, b"\xac\x96")
                key, rest = piece[:7], piece[7:]
                tag, flag, body = rest.split(b":", 2)
                kind = {b"__raw__": "raw", b"__jsn__": "jsn", b"__png__": "png", b"__die__": "die"}.get(key, "unknown")
                event = dict(
                    event="frame",
                    kind=kind,
                    tag=tag.decode("latin-1") or None,
                    flag=flag.decode("latin-1"),
                    body_hex=body.hex(),
                    body_text=body.decode("utf-8", "replace"),
                )
                if kind == "jsn":
                    try:
                        event["value"] = decode_extended(body.decode("utf-8"))
                    except ValueError as err:
                        event["error"] = str(err)
                frames += 1
                emit(**event)
                if kind == "die":
                    died = True
                    break
                if args.count and frames >= args.count:
                    sock.close()
                    emit(event="disconnected")
                    return
        sock.close()
        emit(event="disconnected")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
