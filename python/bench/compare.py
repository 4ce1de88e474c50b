"""Herald from Python beside pyzmq, in one run, each side in separate processes on loopback:

- pub/sub 1 -> 1: COUNT messages of 64 bytes, lossless on both sides (Herald's ``overflow="block"``, ZeroMQ
  with no high-water mark), messages per second at the subscriber (first to last message);
- ask: an asker and an answerer process, ROUNDS questions one after another, the median round trip
  (ZeroMQ: REQ/REP).

Each workload alternates Herald and ZeroMQ RUNS times and reports the medians and their ratio. Needs the
``herald-lan`` wheel and ``pyzmq`` (``pip install pyzmq``) in the same Python::

    python python/bench/compare.py [--count 200000] [--rounds 2000] [--runs 3]

``cargo xtask bench python`` installs both (a release wheel, pyzmq from PyPI) into its venv and runs this
inside a fresh network namespace.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PAYLOAD = b"x" * 64


def free_port(kind=socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node(herald, name, port, **kwargs):
    state = tempfile.mkdtemp(prefix="herald-bench-")
    return herald.Node(name, interface="127.0.0.1", group=port, state_dir=state, **kwargs)


# Roles, each run in a process of its own.


def herald_sub(port, count):
    import herald

    with node(herald, "bench-sub", port) as n:
        messages = n.subscribe("bench")
        print("ready", flush=True)
        got = missed = 0
        first = None
        for item in messages:
            if isinstance(item, herald.Missed):
                missed += item.count
            else:
                got += 1
            if first is None:
                first = time.perf_counter()
            if got + missed >= count:
                break
        took = time.perf_counter() - first
    print(json.dumps({"received": got, "missed": missed, "seconds": took}), flush=True)


def herald_pub(port, count):
    import herald

    with node(herald, "bench-pub", port, overflow="block") as n:
        while n.subscribers("bench") != ["bench-sub"]:
            time.sleep(0.01)
        publish = n.publish
        for _ in range(count):
            publish("bench", PAYLOAD)
        # Closing flushes every link's queue before it closes.


def zmq_sub(port, count):
    import zmq

    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"tcp://127.0.0.1:{port}")
    print("ready", flush=True)
    recv = sub.recv
    recv()  # the publisher's hello
    first = None
    for i in range(count):
        recv()
        if first is None:
            first = time.perf_counter()
    took = time.perf_counter() - first
    print(json.dumps({"received": count, "missed": 0, "seconds": took}), flush=True)
    sub.close(linger=0)
    context.term()


def zmq_pub(port, count):
    import zmq

    context = zmq.Context()
    pub = context.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.bind(f"tcp://127.0.0.1:{port}")
    time.sleep(1.0)  # the slow joiner: let the subscriber connect
    pub.send(b"hello")
    send = pub.send
    for _ in range(count):
        send(PAYLOAD)
    pub.close(linger=-1)
    context.term()


def herald_answer(port, _count):
    import herald

    with node(herald, "bench-answer", port) as n:
        n.answer_with(lambda question, sender: question)
        print("ready", flush=True)
        sys.stdin.read()


def zmq_answer(port, _count):
    import zmq

    context = zmq.Context()
    rep = context.socket(zmq.REP)
    rep.bind(f"tcp://127.0.0.1:{port}")
    print("ready", flush=True)
    while True:
        message = rep.recv()
        if message == b"stop":
            rep.send(b"")
            break
        rep.send(message)
    rep.close()
    context.term()


ROLES = {f.__name__: f for f in (herald_sub, herald_pub, zmq_sub, zmq_pub, herald_answer, zmq_answer)}


def spawn(role, port, count, stdin=None):
    return subprocess.Popen(
        [sys.executable, __file__, "--role", role, "--port", str(port), "--count", str(count)],
        stdout=subprocess.PIPE,
        stdin=stdin,
        text=True,
    )


def pubsub(system, count) -> float:
    port = free_port(socket.SOCK_DGRAM if system == "herald" else socket.SOCK_STREAM)
    sub = spawn(f"{system}_sub", port, count)
    assert sub.stdout.readline().strip() == "ready"
    pub = spawn(f"{system}_pub", port, count)
    result = json.loads(sub.stdout.readline())
    sub.wait(60)
    pub.wait(60)
    assert result["missed"] == 0, f"{system} dropped {result['missed']} (lossless was asked for)"
    return result["received"] / result["seconds"]


def ask(system, rounds) -> float:
    port = free_port(socket.SOCK_DGRAM if system == "herald" else socket.SOCK_STREAM)
    answerer = spawn(f"{system}_answer", port, 0, stdin=subprocess.PIPE)
    assert answerer.stdout.readline().strip() == "ready"
    times = []
    if system == "herald":
        import herald

        with node(herald, "bench-ask", port) as n:
            while "bench-answer" not in {p.name for p in n.peers()}:
                time.sleep(0.01)
            for i in range(rounds + 100):
                started = time.perf_counter()
                answers = n.ask("bench-answer", PAYLOAD, 2.0)
                took = time.perf_counter() - started
                assert answers["bench-answer"] is not None
                if i >= 100:
                    times.append(took)
        answerer.stdin.close()
    else:
        import zmq

        context = zmq.Context()
        req = context.socket(zmq.REQ)
        req.connect(f"tcp://127.0.0.1:{port}")
        for i in range(rounds + 100):
            started = time.perf_counter()
            req.send(PAYLOAD)
            req.recv()
            took = time.perf_counter() - started
            if i >= 100:
                times.append(took)
        req.send(b"stop")
        req.recv()
        req.close()
        context.term()
    answerer.wait(30)
    return statistics.median(times) * 1e6


def zmq_version() -> str:
    import zmq

    return zmq.__version__


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=sorted(ROLES))
    parser.add_argument("--port", type=int)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.role:
        ROLES[args.role](args.port, args.count)
        return
    rates = {"herald": [], "zmq": []}
    p50s = {"herald": [], "zmq": []}
    for run in range(args.runs):
        for system in ("herald", "zmq"):
            rates[system].append(pubsub(system, args.count))
            p50s[system].append(ask(system, args.rounds))
        print(
            f"run {run + 1}: pub/sub herald {rates['herald'][-1]:,.0f} msg/s, zmq {rates['zmq'][-1]:,.0f} msg/s; "
            f"ask p50 herald {p50s['herald'][-1]:.0f} us, zmq {p50s['zmq'][-1]:.0f} us",
            file=sys.stderr,
        )
    h, z = statistics.median(rates["herald"]), statistics.median(rates["zmq"])
    ha, za = statistics.median(p50s["herald"]), statistics.median(p50s["zmq"])
    rows = [
        ("workload", "Herald from Python", "pyzmq", "ratio", "goal"),
        (
            f"pub/sub 1 -> 1, {args.count:,} x 64 B, lossless",
            f"{h:,.0f} msg/s",
            f"{z:,.0f} msg/s",
            f"{h / z:.2f}x",
            ">= 1.00x" + (" (met)" if h >= z else " (missed)"),
        ),
        (
            f"ask p50, {args.rounds:,} rounds (pyzmq: REQ/REP)",
            f"{ha:.0f} us",
            f"{za:.0f} us",
            f"{ha / za:.2f}x",
            "<= 1.20x" + (" (met)" if ha <= 1.2 * za else " (missed)"),
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rows.insert(1, tuple("-" * width for width in widths))
    print()
    for row in rows:
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |")
    print(
        f"\nmedian of {args.runs} runs; Herald from Python and pyzmq {zmq_version()} alternating, each side a "
        "separate process on loopback."
    )


if __name__ == "__main__":
    main()
