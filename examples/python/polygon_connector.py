#!/usr/bin/env python3
"""A Polygon.io real-time WebSocket connector: a small reference client.

Connects to POLYWS_URL, authenticates with POLYWS_API_KEY, subscribes to
POLYWS_SUBSCRIBE after auth_success and prints every market-data event on
stdout as one JSON object per line, fields and values as received.  Status
messages and problems go to stderr.  Drops are survived: reconnect with
exponential backoff and subscribe again.  Needs only `websockets` (written against 10.4, Debian
12's python3-websockets).

    POLYWS_URL=wss://socket.polygon.io/stocks POLYWS_API_KEY=... \\
    POLYWS_SUBSCRIBE=A.AAPL,T.MSFT python3 polygon_connector.py

--break no-auth|no-reconnect|no-resubscribe-3|reset-backoff (or EXAMPLE_BREAK)
makes it deliberately wrong, to see `polyws check` (or `polyws explore`) catch
the mistake.
"""
import argparse
import asyncio
import json
import logging
import os
import random
import signal
import ssl
import sys
import time

import websockets

log = logging.getLogger("polygon_connector")

MAX_MESSAGE = 16 * 1024 * 1024  # Polygon batches events: frames of several MiB happen
BACKOFF_CAP = 30.0              # seconds, the longest wait between two attempts
HEALTHY_AFTER = 5.0             # a connection this old (or that delivered data) resets the backoff
MAX_CONNECTIONS_WAIT = 60.0     # after max_connections another process has our key: do not fight


class AuthFailed(Exception):
    """The server refused the key: retrying cannot make it right."""


class Done(Exception):
    """POLYWS_COUNT events were delivered."""


def dumps(obj):
    """Compact JSON, the way Polygon writes it."""
    return json.dumps(obj, separators=(",", ":"))


def reject_constant(name):
    """json.loads accepts NaN and Infinity, which are not JSON: refuse them."""
    raise ValueError(f"{name} is not JSON")


class Connector:
    def __init__(self, env, mistake=None):
        self.url = env["POLYWS_URL"]
        self.key = env["POLYWS_API_KEY"]
        channels = env.get("POLYWS_SUBSCRIBE", "A.*").split(",")
        self.channels = ",".join(c.strip() for c in channels if c.strip())
        self.count = int(env["POLYWS_COUNT"]) if env.get("POLYWS_COUNT") else None
        self.first_delay = float(env.get("POLYWS_BACKOFF_MS") or 500) / 1000
        # Heartbeat: ping every half period; no pong within the other half means the
        # connection is dead (the library closes it with 1011).  websockets' default is 20 s + 20 s.
        heartbeat = float(env.get("POLYWS_HEARTBEAT_MS") or 40000) / 1000
        self.ping_interval = heartbeat / 2
        self.ssl = None
        if self.url.startswith("wss:"):
            # POLYWS_CA_FILE: trust this CA (a test server's self-signed certificate).
            self.ssl = ssl.create_default_context(cafile=env.get("POLYWS_CA_FILE") or None)
        self.mistake = mistake
        self.delivered = 0
        self.sessions = 0  # connections opened so far (for --break no-resubscribe-3)

    async def run(self):
        """Connect, and reconnect after every drop, until stopped."""
        delay = self.first_delay
        while True:
            started = time.monotonic()
            self.got_data = self.kicked = False
            try:
                await self.session()
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
                # ConnectionClosedError (drops, protocol errors the library failed the
                # connection for), refused connections, bad handshakes, TLS errors...
                log.warning("connection lost: %s", e)
            if self.mistake == "no-reconnect":
                log.warning("--break no-reconnect: not reconnecting")
                return
            if self.got_data or time.monotonic() - started >= HEALTHY_AFTER or self.mistake == "reset-backoff":
                delay = self.first_delay  # it was a healthy connection: start over
            wait = delay * random.uniform(0.8, 1.2)  # jitter: clients must not reconnect in step
            if self.kicked:
                wait = max(wait, MAX_CONNECTIONS_WAIT)
            log.info("reconnecting in %.2f s", wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, BACKOFF_CAP)

    async def session(self):
        """One connection, from the handshake until it ends."""
        async with websockets.connect(self.url, ssl=self.ssl, max_size=MAX_MESSAGE,
                                      ping_interval=self.ping_interval,
                                      ping_timeout=self.ping_interval, close_timeout=1) as ws:
            log.info("connected to %s", self.url)
            self.auth_sent = False
            self.sessions += 1
            async for message in ws:  # ends quietly on a normal close (1000/1001)
                await self.on_message(ws, message)
            log.warning("server closed the connection: %s %s", ws.close_code, ws.close_reason)

    async def on_message(self, ws, message):
        if isinstance(message, bytes):
            log.warning("ignored a binary frame of %d bytes (Polygon sends text)", len(message))
            return
        try:
            items = json.loads(message, parse_constant=reject_constant)
        except (ValueError, RecursionError) as e:  # RecursionError: absurdly deep nesting
            log.warning("ignored a frame that is not JSON (%s): %.100s", type(e).__name__, message)
            return
        if not isinstance(items, list):
            log.warning("ignored a frame that is not a JSON array: %.100s", message)
            return
        lines = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("ev"), str):
                log.warning("ignored an element that is not an event: %.100s", dumps(item))
            elif item.get("ev") == "status":
                await self.on_status(ws, item)
            elif self.count is None or self.delivered < self.count:
                lines.append(dumps(item))  # unknown types and fields pass through as they are
                self.delivered += 1
        if lines:
            self.got_data = True
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
        if self.count is not None and self.delivered >= self.count:
            raise Done

    async def send(self, ws, action, params):
        try:
            await ws.send(dumps({"action": action, "params": params}))
        except websockets.ConnectionClosed:
            # The connection is already failing: keep reading, the frames received
            # before the failure are still queued and must be delivered.
            log.warning("could not send %s: the connection is closing", action)

    async def on_status(self, ws, item):
        log.info("status %s", dumps(item))
        status = item.get("status")
        if status in ("connected", "success") and not self.auth_sent:
            # The greeting ("connected" in the docs, "success" in the spec): authenticate.
            self.auth_sent = True
            if self.mistake == "no-auth":
                log.warning("--break no-auth: not authenticating")
                return
            await self.send(ws, "auth", self.key)
        elif status == "auth_success":
            # One subscribe for every channel; Polygon keeps nothing across connections.
            if self.mistake == "no-resubscribe-3" and self.sessions == 4:
                log.warning("--break no-resubscribe-3: not subscribing on the third reconnect")
                return
            await self.send(ws, "subscribe", self.channels)
        elif status == "auth_failed":
            raise AuthFailed(item.get("message", "auth_failed"))
        elif status == "max_connections":
            self.kicked = True


async def main_async(connector, duration):
    # SIGTERM/SIGINT cancel this task: the open connection is closed (1000) on the way out.
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, asyncio.current_task().cancel)
    try:
        await asyncio.wait_for(connector.run(), duration)  # duration None: no limit
    except asyncio.CancelledError:
        log.info("stopped by a signal")
    except asyncio.TimeoutError:
        log.info("POLYWS_DURATION reached")
    except Done:
        log.info("POLYWS_COUNT reached")
    except AuthFailed as e:
        log.error("authentication failed: %s", e)
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description="Polygon.io WebSocket connector (settings: POLYWS_* variables)")
    parser.add_argument("--break", dest="mistake", choices=["no-auth", "no-reconnect", "no-resubscribe-3", "reset-backoff"],
                        default=os.environ.get("EXAMPLE_BREAK") or None,
                        help="be deliberately wrong (default: EXAMPLE_BREAK, else correct)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="polygon_connector: %(message)s")
    for name in ("POLYWS_URL", "POLYWS_API_KEY"):
        if not os.environ.get(name):
            parser.error(f"{name} is not set")
    duration = float(os.environ["POLYWS_DURATION"]) if os.environ.get("POLYWS_DURATION") else None
    return asyncio.run(main_async(Connector(os.environ, args.mistake), duration))


if __name__ == "__main__":
    sys.exit(main())
