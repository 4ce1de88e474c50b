"""herald.compat.hein: hein's SocTransmitter and SocReceiver over Herald, as hein's callers use them."""

import datetime
import threading
import time

from conftest import wait_until
from herald.compat.hein import Message, SocReceiver, SocTransmitter


class Collector(SocReceiver):
    def __init__(self, *args, **kwargs):
        self.got = []
        self.lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process(self, data, tag):
        with self.lock:
            self.got.append((data, tag))


def test_a_transmitter_tells_its_receivers_raw_text_bytes_and_extended_json(node_args):
    tx = SocTransmitter(5005, 2, **node_args)
    first = Collector(5005, "first-receiver-with-a-long-name", **node_args)
    second = Collector(5005, "second", **node_args)
    try:
        assert first.name == "first-receiver-"  # cut to 15 characters, as hein did
        wait_until(lambda: tx.nreceivers == 2, "both receivers to be connected")
        assert tx.ping() and first.connected and first.running
        stamp = datetime.datetime(2026, 11, 29, 10, 30, 15)
        assert tx.tell_raw("hello", tag="greeting")
        assert tx.tell_raw(b"\x00\x01")
        assert tx.tell({"t": 21.5, "at": stamp, "days": [datetime.date(2026, 1, 2)], "blob": b"\xff"}, tag="reading")
        assert tx.tell([1, 2, 3], unpack=False)
        assert not tx.tell_raw("") and not tx.tell_raw(42)
        assert tx.tell_json({"a": 1}) is False  # deprecated, as in hein
        for receiver in (first, second):
            wait_until(lambda: len(receiver.got) == 4, f"{receiver.name} to get four messages")
            assert receiver.got[:3] == [
                ("hello", "greeting"),
                (b"\x00\x01", None),
                ({"t": 21.5, "at": stamp, "days": [datetime.date(2026, 1, 2)], "blob": b"\xff"}, "reading"),
            ]
            packed, tag = receiver.got[3]
            assert isinstance(packed, Message) and packed.message == [1, 2, 3] and tag is None
    finally:
        for end in (first, second, tx):
            end.close()
    assert not first.running


def test_a_transmitter_serves_at_most_nreceivermax_receivers(node_args):
    tx = SocTransmitter(5006, 1, **node_args)
    early = Collector(5006, "early", **node_args)
    try:
        wait_until(lambda: tx.nreceivers == 1, "the first receiver to be connected")
        late = Collector(5006, "late", **node_args)
        try:
            wait_until(lambda: "late" in {p.name for p in tx._node.peers()}, "the transmitter to see the late one")
            tx.tell_raw("only one")
            wait_until(lambda: early.got == [("only one", None)], "the first receiver to get the message")
            time.sleep(0.3)  # what the refused one would have got by now
            assert tx.nreceivers == 1 and late.got == []
        finally:
            late.close()
    finally:
        early.close()
        tx.close()
