"""Python nodes and `herald` CLI processes on loopback, in each test's own group."""

import json

import herald
from conftest import PATIENCE, peer_names, wait_until


def test_a_python_subscriber_gets_a_cli_publishers_messages_in_order(cli, node_args):
    with herald.Node("py-sub", **node_args) as node:
        readings = node.subscribe("sensors.*")
        lines = "".join(f"reading {i}\n" for i in range(200))
        published = cli.run(
            "publish", "sensors.kitchen", "-", "--subscribers", "1", "--wait", str(PATIENCE), input=lines
        )
        assert published.returncode == 0, published.stderr
        got = []
        while len(got) < 200:
            item = readings.recv(timeout=PATIENCE)
            assert item is not None, f"only {len(got)} of 200 messages arrived"
            assert isinstance(item, herald.Message), f"unexpected {item!r}"
            got.append(item)
        assert [m.payload for m in got] == [f"reading {i}".encode() for i in range(200)]
        assert {m.topic for m in got} == {"sensors.kitchen"}
        assert len({m.sender for m in got}) == 1 and "-cli-" in got[0].sender
        assert got[0].text == "reading 0"


def test_a_cli_subscriber_gets_a_python_publishers_messages_in_order(cli, node_args):
    subscriber = cli.start("subscribe", "chat", "--count", "50", "--json")
    with herald.Node("py-pub", **node_args) as node:
        wait_until(lambda: node.subscribers("chat"), "the CLI subscriber to be known")
        for i in range(50):
            assert node.publish("chat", f"line {i}") == 1
        out, err = subscriber.communicate(timeout=PATIENCE)
    assert subscriber.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    texts = [event["payload"]["text"] for event in events]
    assert texts == [f"line {i}" for i in range(50)]
    assert {event["from_name"] for event in events} == {"py-pub"}


def test_a_python_node_answers_a_cli_ask(cli, node_args):
    asked_by = []

    def answer(question: bytes, sender: str) -> str:
        asked_by.append(sender)
        return "you said " + question.decode()

    with herald.Node("py-answer", **node_args) as node:
        node.answer_with(answer)
        asked = cli.run("ask", "--to", "py-answer", "--timeout", "5", "hello")
        assert asked.returncode == 0, asked.stderr
        assert json.loads(asked.stdout) == {"py-answer": "you said hello"}
        assert len(asked_by) == 1 and "-cli-" in asked_by[0]


def test_a_python_ask_gets_a_cli_nodes_answer_and_none_for_a_ghost(cli, node_args):
    cli.start("node", "--name", "rusty")
    with herald.Node("py-asker", **node_args) as node:
        wait_until(lambda: "rusty" in peer_names(node), "the CLI node to be seen")
        assert node.ask(["rusty", "ghost"], "ping", timeout=2.0) == {"rusty": "pong", "ghost": None}
        outcomes = node.ask(["rusty", "ghost"], "ping", outcomes=True)
        assert outcomes["rusty"].answered and outcomes["rusty"].answer == "pong"
        assert outcomes["rusty"].latency_ms is not None
        assert not outcomes["ghost"].answered and outcomes["ghost"].reason == "unknown_peer"
        # Direct messages: the CLI node takes them; the ghost is unknown.
        assert node.send(["rusty", "ghost"], b"hi") == {"rusty": "queued", "ghost": "unknown_peer"}


def test_lookup_finds_a_cli_nodes_service(cli, node_args):
    cli.start("node", "--name", "webhost", "--service", "web=8080")
    with herald.Node("py-lookup", services={"db": 5432}, **node_args) as node:
        assert node.lookup("web", wait=PATIENCE) == [("127.0.0.1", 8080)]
        peer = next(p for p in node.peers() if p.name == "webhost")
        assert peer.services == {"web": ("127.0.0.1", 8080)} and peer.kind == "herald"
        assert node.lookup("db") == [("127.0.0.1", 5432)]
        assert node.lookup("nothing") == []
        # The CLI finds the Python node's service too.
        found = cli.run("lookup", "db")
        assert found.returncode == 0, found.stderr
        assert found.stdout.split() == ["127.0.0.1:5432"]
    found = cli.run("lookup", "db")
    assert found.returncode == 1, "the Python node has left: nobody provides db any more"
