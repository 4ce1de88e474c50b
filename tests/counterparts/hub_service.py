"""A Twisted hub active service's registration, written from LEGACY-WIRE.md (section 3) for Herald's tests.

Sends `TwistedHubService:SERVICE:IP:PORT` once (or `TwistedHubServiceRemove:...` with --remove) and prints the
hub's reply.

    hub_service.py --hub IP[:8888] --service NAME --ip IP --port P [--remove] [--timeout 3]

Events (JSON lines): reply {raw} or timeout.
"""
import argparse
import socket

from common import emit, host_port


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hub", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--ip", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--remove", action="store_true")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    hub, hub_port = host_port(args.hub, 8888)
    verb = "TwistedHubServiceRemove" if args.remove else "TwistedHubService"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(args.timeout)
    sock.sendto(("%s:%s:%s:%d" % (verb, args.service, args.ip, args.port)).encode("ascii"), (hub, hub_port))
    try:
        data, _ = sock.recvfrom(2048)
    except socket.timeout:
        emit(event="timeout")
        return
    emit(event="reply", raw=data.decode("ascii", "replace"))


if __name__ == "__main__":
    main()
