"""A Twisted hub client, written from LEGACY-WIRE.md (section 3) for Herald's interop tests.

Sends `TwistedUDPClient:SERVICE` once, to the hub's address (or with --group-send to 224.0.0.1:8888 through
--iface-ip), and reads the first reply the way the old client does: fields on ':', name, ip, port (0 if not a
number); port > 0 means "active".

    hub_client.py --hub IP[:8888] --service NAME [--timeout 3] [--group-send --iface-ip IP]

Events (JSON lines): reply {raw, service, ip, port, active} or timeout.
"""
import argparse
import socket

from common import emit, host_port


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hub", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--group-send", action="store_true")
    parser.add_argument("--iface-ip")
    args = parser.parse_args()
    hub, port = host_port(args.hub, 8888)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(args.timeout)
    request = ("TwistedUDPClient:%s" % args.service).encode("ascii")
    if args.group_send:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(args.iface_ip))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.sendto(request, ("224.0.0.1", port))
    else:
        sock.sendto(request, (hub, port))
    try:
        data, _ = sock.recvfrom(2048)
    except socket.timeout:
        emit(event="timeout")
        return
    raw = data.decode("ascii", "replace")
    fields = raw.replace("'", "").split(":")
    try:
        port = int(fields[2])
    except (IndexError, ValueError):
        port = 0
    emit(event="reply", raw=raw, service=fields[0], ip=fields[1] if len(fields) > 1 else "", port=port, active=port > 0)


if __name__ == "__main__":
    main()
