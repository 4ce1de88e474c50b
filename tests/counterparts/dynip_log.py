"""A DynIP 0.1e JSON log as the old server writes it, written from LEGACY-WIRE.md (section 4) for Herald's
interop tests, without the network: for each HOST=IP, the value [IP, str(a datetime)] as the server's
`datetime.now()` gives it (local time, microseconds, no fraction when they are 0), dumped with `json.dump`
(", " and ": " separators, ASCII escapes, the given order, no trailing newline).

    dynip_log.py --log FILE [--zero-micro HOST]... [--past] HOST=IP...

Times are now (or, with --past, arbitrary moments of the last year: real instants, so real local times);
--zero-micro HOST gives HOST a time whose microseconds are 0.

Events (JSON lines): written {hosts}.
"""
import argparse
import datetime
import json
import random
import time

from common import emit


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--zero-micro", action="append", default=[])
    parser.add_argument("--past", action="store_true")
    parser.add_argument("entries", nargs="+")
    args = parser.parse_args()
    log = {}
    for entry in args.entries:
        host, ip = entry.rsplit("=", 1)
        if args.past:
            moment = datetime.datetime.fromtimestamp(time.time() - random.uniform(0, 365 * 86400))
        else:
            moment = datetime.datetime.now()
        if host in args.zero_micro:
            moment = moment.replace(microsecond=0)
        log[host] = [ip, str(moment)]
    with open(args.log, "w") as f:
        json.dump(log, f)
    emit(event="written", hosts=len(log))


if __name__ == "__main__":
    main()
