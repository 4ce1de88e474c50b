"""Ctrl-C during blocking calls: KeyboardInterrupt comes promptly, and the node is still usable."""

import _thread
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import herald
from conftest import PATIENCE, peer_names, wait_until


def interrupt_after(seconds: float):
    """Raises KeyboardInterrupt in the main thread after `seconds`, as Ctrl-C would."""
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


def test_ctrl_c_interrupts_a_blocking_ask_promptly(node_args):
    release = threading.Event()

    def never_in_time(question, sender):
        release.wait(PATIENCE)
        return "too late"

    with herald.Node("asker", **node_args) as asker, herald.Node("dawdler", **node_args) as dawdler:
        dawdler.answer_with(never_in_time)
        wait_until(lambda: "dawdler" in peer_names(asker), "the asker to see the dawdler")
        interrupt_after(0.3)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            asker.ask("dawdler", "are you there?", timeout=60)
        assert time.monotonic() - started < 1.5
        release.set()
        # The node still works.
        dawdler.answer_with(None)
        assert asker.ask("dawdler", "ping") == {"dawdler": "pong"}


def test_ctrl_c_interrupts_waiting_for_messages(node_args):
    with herald.Node("waiter", **node_args) as node:
        quiet = node.subscribe("quiet")
        interrupt_after(0.3)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            next(quiet)
        assert time.monotonic() - started < 1.5
        node.publish("quiet", "after all")
        assert quiet.recv(timeout=PATIENCE).payload == b"after all"


def test_a_real_sigint_stops_a_program_iterating_over_a_subscription(node_args):
    program = textwrap.dedent(
        f"""
        import herald
        with herald.Node("sigint", **{node_args!r}) as node:
            messages = node.subscribe("nothing.ever")
            print("ready", flush=True)
            for message in messages:
                pass
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", program], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        os.kill(process.pid, signal.SIGINT)
        started = time.monotonic()
        _, err = process.communicate(timeout=PATIENCE)
        assert time.monotonic() - started < 2
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0
    assert "KeyboardInterrupt" in err
