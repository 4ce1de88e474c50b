"""A DynIP 0.1e server, written from LEGACY-WIRE.md (section 4) for Herald's interop tests: every datagram's
first 256 bytes are the key, the value [source IP, local time], and the whole JSON file is rewritten after each
(", " and ": " separators, ASCII escapes, first-seen order, no trailing newline).

    dynip_server.py --listen IP:PORT --log FILE [--count N] [--seconds S]

Events (JSON lines): logged {host, ip}.
"""
import argparse
import datetime
import json
import os
import socket

from common import Deadline, emit, host_port


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    deadline = Deadline(args.seconds)
    log = {}
    if os.path.exists(args.log):
        with open(args.log) as f:
            loaded = json.load(f)
            if isinstance(loaded, dict):
                log = loaded
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(host_port(args.listen, 28630))
    logged = 0
    while not deadline.passed():
        sock.settimeout(max(0.05, deadline.left()))
        try:
            data, source = sock.recvfrom(1024)
        except socket.timeout:
            break
        host = data[:256].decode("utf-8", "replace")
        log[host] = [source[0], datetime.datetime.now().isoformat(" ")]
        with open(args.log, "w") as f:
            json.dump(log, f)
        emit(event="logged", host=host, ip=source[0])
        logged += 1
        if args.count and logged >= args.count:
            break


if __name__ == "__main__":
    main()
