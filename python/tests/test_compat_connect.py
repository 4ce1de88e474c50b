"""herald.compat.connect: pythonConnect's Connect over Herald, as its callers use it."""

import threading

from conftest import wait_until
from herald.compat.connect import Connect


class Recorder:
    def __init__(self):
        self.messages, self.updates, self.errors = [], [], []
        self.lock = threading.Lock()

    def fr(self, message, sender):
        if message == "boom":
            raise ValueError("fr failed")
        with self.lock:
            self.messages.append((message, sender))

    def fhu(self, devices):
        with self.lock:
            self.updates.append(devices)

    def fe(self, error):
        with self.lock:
            self.errors.append(error)


def test_connect_devices_message_ask_and_leave(node_args):
    a, b = Recorder(), Recorder()

    def answer(question, sender):
        if question == "fail":
            raise RuntimeError("cannot")
        return f"{sender} asked {question}"

    alpha = Connect(fr=a.fr, fhu=a.fhu, fe=a.fe, name="alpha", **node_args)
    bravo = Connect(fr=b.fr, fhu=b.fhu, fe=b.fe, fa=answer, name="bravo", **node_args)
    try:
        wait_until(lambda: b.updates and "alpha" in b.updates[-1], "bravo's fhu to list alpha")
        assert b.updates[-1]["alpha"].addr == "127.0.0.1"
        wait_until(lambda: "bravo" in alpha.remote_devices, "alpha to know bravo")

        alpha.sendMessage("hello", "bravo")
        alpha.sendMessage("to everyone", "toAll")
        alpha.sendMessage(42, ["bravo"])
        wait_until(lambda: len(b.messages) == 3, "bravo's fr to get three messages")
        assert sorted(b.messages) == sorted([("hello", "alpha"), ("to everyone", "alpha"), ("42", "alpha")])

        assert alpha.askDevice("the time?", "bravo") == {"bravo": "alpha asked the time?"}
        assert alpha.askDevice("ping", ["bravo", "ghost"], timeout=1) == {
            "bravo": "alpha asked ping",
            "ghost": "",
        }
        # fa raised: the asker gets "" and bravo's fe gets the failing question.
        assert alpha.askDevice("fail", "bravo") == {"bravo": ""}
        wait_until(lambda: b.errors == ["fail"], "bravo's fe to get the failing question")
        # fr raised: fe gets the failing message.
        alpha.sendMessage("boom", "bravo")
        wait_until(lambda: b.errors == ["fail", "boom"], "bravo's fe to get the failing message")
    finally:
        alpha.leavingNetwork()
    wait_until(lambda: "alpha" not in b.updates[-1], "bravo's fhu to drop alpha when it leaves")
    bravo.leavingNetwork()
