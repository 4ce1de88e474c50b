"""Shared bits of the counterparts: JSON lines on stdout, flushed at once, and a deadline."""
import json
import sys
import time


def emit(**event):
    """Prints one event as a JSON line."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class Deadline:
    """Seconds left before the script must end."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def passed(self):
        return self.left() <= 0.0


def host_port(text, default_port):
    """'IP[:PORT]' as (ip, port)."""
    if ":" in text:
        host, port = text.rsplit(":", 1)
        return host, int(port)
    return text, default_port
