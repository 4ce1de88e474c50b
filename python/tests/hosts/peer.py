"""One Python Herald node for the tests across namespace hosts (`tests/tests/python_hosts.rs`): it plays one
role on its host's ``eth0`` and prints what it sees as JSON lines, which the Rust test reads.

    python peer.py ROLE NAME [ARGS...] [--key KEY_FILE]

Roles:

- ``subscribe NAME PATTERN COUNT``: ``{"ready": true}`` once subscribed, then one line per message
  (``topic``, ``text``, ``sender``; a ``Missed`` item is ``{"missed": N}``), until COUNT messages;
- ``publish NAME TOPIC COUNT``: waits for a subscriber of TOPIC, publishes ``line 0`` .. ``line COUNT-1``,
  then ``{"published": COUNT}``;
- ``answer NAME``: answers ``you said QUESTION``; ``{"ready": true}``, then one ``{"asked_by": SENDER}`` per
  question, until SIGTERM;
- ``ask NAME TARGET... --wait-for PEER [--seconds S]``: waits up to S seconds (15) to see PEER
  (``{"seen": bool}``), then asks the targets ``ping`` (2 s) and prints ``{"answers": {...}}`` (``null`` for
  no answer);
- ``lookup NAME SERVICE``: ``{"found": [[ADDR, PORT], ...]}``, waiting up to 15 s for the service.

Every node leaves gracefully (its ``with`` block) before the process exits.
"""

import argparse
import json
import signal
import sys
import threading
import time

import herald

PATIENCE = 15.0


def say(**fields):
    print(json.dumps(fields), flush=True)


def subscribe(node, args):
    pattern, count = args.rest[0], int(args.rest[1])
    messages = node.subscribe(pattern)
    say(ready=True)
    got = 0
    while got < count:
        item = messages.recv(timeout=PATIENCE)
        if item is None:
            say(timeout=True, got=got)
            return
        if isinstance(item, herald.Missed):
            say(missed=item.count)
            got += item.count
        else:
            say(topic=item.topic, text=item.text, sender=item.sender)
            got += 1


def publish(node, args):
    topic, count = args.rest[0], int(args.rest[1])
    deadline = time.monotonic() + PATIENCE
    while not node.subscribers(topic) and time.monotonic() < deadline:
        time.sleep(0.02)
    for i in range(count):
        node.publish(topic, f"line {i}")
    say(published=count, subscribers=node.subscribers(topic))


def answer(node, args):
    def reply(question: bytes, sender: str) -> str:
        say(asked_by=sender)
        return "you said " + question.decode()

    node.answer_with(reply)
    say(ready=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.1):
        pass


def ask(node, args):
    deadline = time.monotonic() + args.seconds
    seen = False
    while time.monotonic() < deadline:
        seen = args.wait_for in {peer.name for peer in node.peers()}
        if seen:
            break
        time.sleep(0.02)
    say(seen=seen, peers=sorted(peer.name for peer in node.peers()))
    answers = node.ask(args.rest, "ping", timeout=2.0)
    say(answers={name: a if isinstance(a, (str, type(None))) else repr(a) for name, a in answers.items()})


def lookup(node, args):
    say(found=[list(found) for found in node.lookup(args.rest[0], wait=PATIENCE)])


ROLES = {role.__name__: role for role in (subscribe, publish, answer, ask, lookup)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=sorted(ROLES))
    parser.add_argument("name")
    parser.add_argument("rest", nargs="*")
    parser.add_argument("--key")
    parser.add_argument("--wait-for")
    parser.add_argument("--seconds", type=float, default=PATIENCE)
    args = parser.parse_args()
    with herald.Node(args.name, interface="eth0", key_file=args.key, heartbeat=0.2) as node:
        ROLES[args.role](node, args)
    say(closed=True)


if __name__ == "__main__":
    sys.exit(main())
