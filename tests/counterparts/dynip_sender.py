"""The DynIP 0.1e client's datagram, written from LEGACY-WIRE.md (section 4) for Herald's interop tests:
the bare hostname (or any bytes), once, no reply.

    dynip_sender.py --server IP[:28630] --hostname NAME [--raw-hex HEX]

Events (JSON lines): sent {bytes}.
"""
import argparse
import socket

from common import emit, host_port


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--hostname", default=socket.gethostname())
    parser.add_argument("--raw-hex")
    args = parser.parse_args()
    payload = bytes.fromhex(args.raw_hex) if args.raw_hex else args.hostname.encode("utf-8")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = sock.sendto(payload, host_port(args.server, 28630))
    emit(event="sent", bytes=sent)


if __name__ == "__main__":
    main()
