"""A pythonConnect device, written from LEGACY-WIRE.md (section 2) for Herald's interop tests.

UDP on the group's port (SO_REUSEADDR), joined on --bind-ip; `hello:,:NAME`, 20 ms later `alive:,:NAME`, then
`alive` every 30 s and at once to a newcomer; of two devices the smaller name connects to the other's TCP port.
It also listens on --bind-ip:TCP. Both sides send "NAME/EOL" first; then `/EOL` frames: MeSsAgE:,:TEXT,
QuEsTiOn:,:KEY:,:TEXT (answered with AnSwEr:,:KEY:,:ANSWER), AnSwEr, quitQUITquit. Its reader keeps every frame;
its writer keeps the old library's limits (at most one frame at a time, 50 ms apart, at most 512 bytes).

    pyconnect_peer.py --name NAME --bind-ip IP [--group 239.255.4.3] [--udp-port 3235] [--tcp-port 4112]
                      [--answer TEXT] [--send-to NAME --message TEXT] [--ask NAME --question TEXT [--timeout 2]]
                      [--seconds S]

Events (JSON lines): advert {kind, name, from}, connected {peer}, message {from, text},
question {from, key, text}, answer {from, key, text}, ask_result {peer, answer|null}, closed {peer}.
"""
import argparse
import random
import socket
import struct
import threading
import time

from common import Deadline, emit

SEP = ":,:"
EOL = b"/EOL"


class Connection:
    def __init__(self, sock, peer_name, device):
        self.sock = sock
        self.peer = peer_name
        self.device = device
        self.lock = threading.Lock()
        self.last_write = 0.0

    def send(self, text):
        data = text.encode("utf-8") + EOL
        if len(data) > 512:
            raise ValueError("frame over 512 bytes")
        with self.lock:
            wait = self.last_write + 0.05 - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.sock.sendall(data)
            self.last_write = time.monotonic()


class Device:
    def __init__(self, args):
        self.args = args
        self.deadline = Deadline(args.seconds)
        self.known = set()
        self.connections = {}
        self.answers = {}
        self.lock = threading.Lock()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.udp.bind(("0.0.0.0", args.udp_port))
        membership = struct.pack("4s4s", socket.inet_aton(args.group), socket.inet_aton(args.bind_ip))
        self.udp.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        self.udp.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(args.bind_ip))
        self.udp.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        self.udp.settimeout(0.5)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((args.bind_ip, args.tcp_port))
        self.tcp.listen(8)
        self.tcp.settimeout(0.5)

    def advert(self, kind):
        self.udp.sendto(("%s%s%s" % (kind, SEP, self.args.name)).encode("utf-8"), (self.args.group, self.args.udp_port))

    def run(self):
        threading.Thread(target=self.accept_loop, daemon=True).start()
        threading.Thread(target=self.act, daemon=True).start()
        self.advert("hello")
        time.sleep(0.02)
        self.advert("alive")
        last_alive = time.monotonic()
        while not self.deadline.passed():
            if time.monotonic() - last_alive > 30:
                self.advert("alive")
                last_alive = time.monotonic()
            try:
                data, source = self.udp.recvfrom(256)
            except socket.timeout:
                continue
            try:
                kind, name = data.decode("utf-8").split(SEP)
            except ValueError:
                continue
            if name == self.args.name:
                continue
            emit(event="advert", kind=kind, name=name, **{"from": "%s:%d" % source})
            with self.lock:
                known = name in self.known
                self.known.add(name)
            if known:
                continue
            self.advert("alive")
            if name > self.args.name:
                threading.Thread(target=self.connect, args=(source[0],), daemon=True).start()

    def accept_loop(self):
        while not self.deadline.passed():
            try:
                sock, _ = self.tcp.accept()
            except socket.timeout:
                continue
            threading.Thread(target=self.serve, args=(sock,), daemon=True).start()

    def connect(self, ip):
        try:
            sock = socket.create_connection((ip, self.args.tcp_port), timeout=3)
        except OSError:
            return
        self.serve(sock)

    def serve(self, sock):
        sock.settimeout(None)
        sock.sendall(self.args.name.encode("utf-8") + EOL)
        reader = FrameReader(sock)
        name = reader.next()
        if name is None:
            sock.close()
            return
        connection = Connection(sock, name, self)
        with self.lock:
            self.connections[name] = connection
            self.known.add(name)
        emit(event="connected", peer=name)
        while True:
            text = reader.next()
            if text is None or text == "quitQUITquit":
                break
            fields = text.split(SEP)
            if fields[0] == "MeSsAgE" and len(fields) >= 2:
                emit(event="message", text=fields[1], **{"from": name})
            elif fields[0] == "QuEsTiOn" and len(fields) >= 3:
                key, question = fields[1], SEP.join(fields[2:])
                emit(event="question", key=key, text=question, **{"from": name})
                connection.send("AnSwEr%s%s%s%s" % (SEP, key, SEP, self.args.answer or self.args.name + "-says-yes"))
            elif fields[0] == "AnSwEr" and len(fields) >= 3:
                key, answer = fields[1], SEP.join(fields[2:])
                emit(event="answer", key=key, text=answer, **{"from": name})
                with self.lock:
                    self.answers[(name, key)] = answer
        with self.lock:
            if self.connections.get(name) is connection:
                del self.connections[name]
            self.known.discard(name)
        sock.close()
        emit(event="closed", peer=name)

    def wait_connection(self, name):
        while not self.deadline.passed():
            with self.lock:
                connection = self.connections.get(name)
            if connection:
                return connection
            time.sleep(0.05)
        return None

    def act(self):
        args = self.args
        if args.send_to and args.message is not None:
            connection = self.wait_connection(args.send_to)
            if connection:
                connection.send("MeSsAgE%s%s" % (SEP, args.message))
        if args.ask and args.question is not None:
            connection = self.wait_connection(args.ask)
            if connection:
                key = str(random.randint(1, 9999))
                connection.send("QuEsTiOn%s%s%s%s" % (SEP, key, SEP, args.question))
                end = time.monotonic() + args.timeout
                answer = None
                while time.monotonic() < end and answer is None:
                    with self.lock:
                        answer = self.answers.get((args.ask, key))
                    time.sleep(0.005)
                emit(event="ask_result", peer=args.ask, answer=answer)


class FrameReader:
    """Keeps every frame (better than the old reader); decodes UTF-8 once a frame is whole."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def next(self):
        while EOL not in self.buffer:
            try:
                data = self.sock.recv(128)
            except OSError:
                return None
            if not data:
                return None
            self.buffer += data
        frame, self.buffer = self.buffer.split(EOL, 1)
        return frame.decode("utf-8", "replace")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--bind-ip", required=True)
    parser.add_argument("--group", default="239.255.4.3")
    parser.add_argument("--udp-port", type=int, default=3235)
    parser.add_argument("--tcp-port", type=int, default=4112)
    parser.add_argument("--answer")
    parser.add_argument("--send-to")
    parser.add_argument("--message")
    parser.add_argument("--ask")
    parser.add_argument("--question")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    Device(parser.parse_args()).run()


if __name__ == "__main__":
    main()
