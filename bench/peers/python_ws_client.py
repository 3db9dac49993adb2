"""python_ws_client.py - the Python peer of ./run bench's end-to-end table:
the `websockets` package (Debian python3-websockets) reading
`polyws mock --rate max`, json.loads on every message, counting market-data
events (A, AM, T, Q).

    /usr/bin/python3 python_ws_client.py URL KEY CHANNELS COUNT

Authenticates after "connected", subscribes after "auth_success", and once
COUNT events arrived prints one line
    RESULT {"client":"python-websockets","events":N,"events_per_s":X}
(the rate from the end of the first data message to the COUNT-th event, as
the C clients measure it) and exits 0.  Exits 1 if the server closes first.
"""
import asyncio
import json
import sys
import time

import websockets

MARKET = {"A", "AM", "T", "Q"}


async def run(url, key, channels, want):
    events = events0 = 0
    t0 = None
    async with websockets.connect(url, compression=None, max_size=None, ping_interval=None) as ws:
        async for data in ws:
            n = 0
            for m in json.loads(data):
                ev = m.get("ev")
                if ev in MARKET:
                    n += 1
                elif ev == "status":
                    if m.get("status") == "connected":
                        await ws.send(json.dumps({"action": "auth", "params": key}))
                    elif m.get("status") == "auth_success":
                        await ws.send(json.dumps({"action": "subscribe", "params": channels}))
            if not n:
                continue
            events += n
            if t0 is None:
                t0 = time.monotonic()
                events0 = events
            if events >= want:
                dt = time.monotonic() - t0
                rate = (events - events0) / dt if dt > 0 else 0
                print('RESULT {"client":"python-websockets","events":%d,"events_per_s":%.0f}' % (events, rate),
                      flush=True)
                return 0
    print("python_ws_client: closed after %d of %d events" % (events, want), file=sys.stderr)
    return 1


def main():
    if len(sys.argv) != 5 or not sys.argv[4].isdigit() or int(sys.argv[4]) <= 0:
        print("usage: python3 python_ws_client.py URL KEY CHANNELS COUNT", file=sys.stderr)
        return 2
    url, key, channels, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    try:
        return asyncio.run(run(url, key, channels, want))
    except (OSError, websockets.exceptions.WebSocketException) as e:
        print("python_ws_client: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
