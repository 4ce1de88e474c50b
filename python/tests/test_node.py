"""The Python API on its own: two Python nodes in one process, errors, closing, threads."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import herald
from conftest import PATIENCE, os_sockets, os_threads, peer_names, wait_until


def test_two_python_nodes_publish_send_and_ask(node_args, tmp_path):
    with herald.Node("alpha", **node_args) as alpha, herald.Node("bravo", **node_args) as bravo:
        wait_until(lambda: "bravo" in peer_names(alpha), "alpha to see bravo")
        news = bravo.subscribe("news.*")
        wait_until(lambda: alpha.subscribers("news.today") == ["bravo"], "alpha to learn bravo's topics")
        assert alpha.publish("news.today", b"\x00\xffbinary") == 1
        assert alpha.publish("news.today", "text") == 1
        first, second = next(news), next(news)
        assert (first.payload, first.sender, first.topic) == (b"\x00\xffbinary", "alpha", "news.today")
        assert first.text is None and second.text == "text"

        bravo.answer_with(lambda question, sender: question.upper() if sender == "alpha" else b"?")
        assert alpha.ask("bravo", "shout") == {"bravo": "SHOUT"}
        # Answers that are not UTF-8 come back as bytes.
        bravo.answer_with(lambda question, sender: b"\xff\xfe")
        assert alpha.ask("all", "anything") == {"bravo": b"\xff\xfe"}
        # Back to the built-in answers.
        bravo.answer_with(None)
        assert alpha.ask(["bravo"], "ping") == {"bravo": "pong"}
        assert alpha.send("all", "hello") == {"bravo": "queued"}


def test_an_answer_callback_that_raises_is_a_failed_answer(node_args):
    def broken(question, sender):
        raise ValueError("no idea")

    with herald.Node("alpha", **node_args) as alpha, herald.Node("bravo", **node_args) as bravo:
        bravo.answer_with(broken)
        wait_until(lambda: "bravo" in peer_names(alpha), "alpha to see bravo")
        outcome = alpha.ask("bravo", "why?", outcomes=True)["bravo"]
        assert (outcome.answered, outcome.reason) == (False, "failed")
        assert "ValueError: no idea" in outcome.detail
        assert alpha.ask("bravo", "why?") == {"bravo": None}
        # A callback returning neither str nor bytes fails the same way.
        bravo.answer_with(lambda question, sender: 42)
        outcome = alpha.ask("bravo", "why?", outcomes=True)["bravo"]
        assert outcome.reason == "failed" and "int" in outcome.detail


def test_a_slow_answer_is_a_timeout_and_the_asker_gets_none(node_args):
    release = threading.Event()

    def slow(question, sender):
        release.wait(PATIENCE)
        return "late"

    with herald.Node("alpha", **node_args) as alpha, herald.Node("bravo", **node_args) as bravo:
        bravo.answer_with(slow)
        wait_until(lambda: "bravo" in peer_names(alpha), "alpha to see bravo")
        started = time.monotonic()
        assert alpha.ask("bravo", "now?", timeout=0.5) == {"bravo": None}
        assert time.monotonic() - started < 3
        release.set()


def test_errors_are_python_exceptions_with_clear_messages(node_args, tmp_path):
    with herald.Node("alpha", **node_args) as alpha:
        other_state = dict(node_args, state_dir=str(tmp_path / "elsewhere"))
        with pytest.raises(herald.NameTakenError, match="alpha"):
            herald.Node("alpha", **other_state)
        with pytest.raises(ValueError, match="wildcard|\\*"):
            alpha.subscribe("a.*.b")
        with pytest.raises(TypeError, match="bytes or str"):
            alpha.publish("topic", 42)
        with pytest.raises(TypeError, match="names"):
            alpha.ask(42, "ping")
    with pytest.raises(herald.ClosedError, match="closed"):
        alpha.publish("topic", "after close")
    assert alpha.closed
    alpha.close()  # closing again does nothing

    with pytest.raises(ValueError, match="drop-oldest"):
        herald.Node("beta", overflow="sometimes", **node_args)
    with pytest.raises(herald.InterfaceError, match="nosuch0"):
        herald.Node("beta", **dict(node_args, interface="nosuch0"))

    key = tmp_path / "key"
    key.write_text("00" * 32 + "\n")
    os.chmod(key, 0o644)
    with pytest.raises(herald.KeyFileError, match="chmod 600"):
        herald.Node("gamma", key_file=key, **node_args)
    assert issubclass(herald.NameTakenError, herald.StartError)
    assert issubclass(herald.KeyFileError, herald.HeraldError)


def test_a_keyed_node_and_an_unkeyed_one_do_not_talk(node_args, tmp_path):
    key = tmp_path / "key"
    key.write_text("ab" * 32 + "\n")
    os.chmod(key, 0o600)
    with herald.Node("keyed", key_file=str(key), **node_args) as keyed, herald.Node(
        "keyed-too", key_file=key, **node_args
    ) as keyed_too, herald.Node("open", **node_args) as unkeyed:
        wait_until(lambda: "keyed-too" in peer_names(keyed), "the keyed nodes to see each other")
        assert keyed.ask("keyed-too", "ping") == {"keyed-too": "pong"}
        time.sleep(1.5)
        assert "open" not in peer_names(keyed) and "keyed" not in peer_names(unkeyed)
        assert unkeyed.ask("keyed", "ping", timeout=0.5) == {"keyed": None}


def test_close_leaves_no_thread_or_socket_behind(node_args):
    before, sockets_before = os_threads(), os_sockets()
    node = herald.Node("threads", threads=2, **node_args)
    asker = herald.Node("asker", **node_args)
    node.answer_with(lambda question, sender: "fine")
    node.on_peers(lambda change, peer: None)
    node.subscribe("cb", callback=lambda item: None)
    messages = node.subscribe("t")
    node.publish("t", "self")
    assert next(messages).payload == b"self"
    wait_until(lambda: "threads" in peer_names(asker), "the asker to see the node")
    assert asker.ask("threads", "hello") == {"threads": "fine"}
    assert os_threads() > before
    assert os_sockets() > sockets_before
    asker.close()
    node.close()
    assert node.closed
    # Closing joins the runtimes' threads, the answer thread and the callback threads.
    wait_until(lambda: os_threads() <= before, f"the thread count to return to {before}", timeout=5)
    # And the discovery, link and listening sockets with them.
    wait_until(lambda: os_sockets() <= sockets_before, f"the socket count to return to {sockets_before}", timeout=5)
    # The subscription ends with the node.
    assert list(messages) == []
    with pytest.raises(herald.ClosedError):
        messages.recv(timeout=0.1)


def test_the_with_block_leaves_gracefully(node_args):
    with herald.Node("stayer", **node_args) as stayer:
        with herald.Node("leaver", **node_args):
            wait_until(lambda: "leaver" in peer_names(stayer), "the stayer to see the leaver")
        # A leave beacon, not a three-second expiry.
        wait_until(lambda: "leaver" not in peer_names(stayer), "the leaver to be gone", timeout=1.0)


def test_help_is_useful():
    doc = herald.Node.__doc__
    for word in ("interface", "services", "key_file", "NameTakenError"):
        assert word in doc
    assert "GIL" in herald.__doc__
    assert herald.Node.ask.__doc__ and "timeout" in herald.Node.ask.__doc__
    assert herald.__version__


def test_peer_changes_and_direct_messages_arrive_as_events(node_args):
    changes = []
    with herald.Node("watcher", **node_args) as watcher:
        watcher.on_peers(lambda change, peer: changes.append((change, peer.name)))
        events = watcher.events()
        with herald.Node("visitor", **node_args) as visitor:
            wait_until(lambda: ("joined", "visitor") in changes, "on_peers to see the visitor join")
            wait_until(lambda: "watcher" in peer_names(visitor), "the visitor to see the watcher")
            assert visitor.send("watcher", b"psst") == {"watcher": "queued"}
            seen = []
            while not any(event.kind == "message" for event in seen):
                seen.append(next(events))
            message = seen[-1].message
            assert (message.topic, message.sender, message.payload) == (None, "visitor", b"psst")
            assert any(e.kind == "joined" and e.peer.name == "visitor" for e in seen)
        wait_until(lambda: ("left", "visitor") in changes, "on_peers to see the visitor leave")
        left = next(event for event in events if event.kind in ("left", "lost"))
        assert (left.kind, left.name) == ("left", "visitor")


def test_a_slow_reader_sees_what_it_missed_never_silently(node_args):
    total = 200_000
    with herald.Node("flooder", **node_args) as flooder, herald.Node("sluggard", **node_args) as sluggard:
        flood = sluggard.subscribe("flood")
        wait_until(lambda: flooder.subscribers("flood") == ["sluggard"], "the flooder to learn the subscriber")
        payload = b"x" * 64
        for _ in range(total):
            flooder.publish("flood", payload)
        # Nothing read until the flood is over: the publisher drops the oldest (its default policy) and says so.
        received = missed = 0
        while received + missed < total:
            item = flood.recv(timeout=PATIENCE)
            assert item is not None, f"{received} received + {missed} missed of {total}"
            if isinstance(item, herald.Missed):
                assert (item.sender, item.topic) == ("flooder", "flood")
                missed += item.count
            else:
                received += 1
        assert missed > 0, "the flood fitted in the buffers: nothing was dropped"
        assert received + missed == total


# The callback's exception is reported as unraisable (printed), as Python does for errors in callbacks.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_subscription_callback_that_raises_does_not_stop_the_messages(node_args):
    got = []

    def on_message(item):
        got.append(item.payload)
        if item.payload == b"bad":
            raise RuntimeError("callback failed")

    with herald.Node("pub", **node_args) as pub, herald.Node("sub", **node_args) as sub:
        assert sub.subscribe("cb.*", callback=on_message) is None
        wait_until(lambda: pub.subscribers("cb.x") == ["sub"], "the publisher to learn the subscriber")
        for payload in (b"one", b"bad", b"three"):
            pub.publish("cb.x", payload)
        wait_until(lambda: len(got) == 3, "the callback to see three messages")
        assert got == [b"one", b"bad", b"three"]
    with herald.Node("typo", **node_args) as node, pytest.raises(TypeError, match="callable"):
        node.subscribe("t", callback=42)


def test_a_program_that_never_closes_its_node_still_exits_cleanly(node_args):
    program = textwrap.dedent(
        f"""
        import herald
        node = herald.Node("left-open", **{node_args!r})
        node.answer_with(lambda question, sender: "still here")
        node.on_peers(lambda change, peer: None)
        node.subscribe("t", callback=lambda item: None)
        asker = herald.Node("asker", **{node_args!r})
        assert asker.ask("left-open", "hello") == {{"left-open": "still here"}}
        print("done", flush=True)
        """
    )
    # Both nodes are dropped as the interpreter exits, their threads with them.
    finished = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=PATIENCE)
    assert (finished.returncode, finished.stdout.strip()) == (0, "done"), finished.stderr
