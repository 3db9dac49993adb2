#!/usr/bin/env python3
"""wsclient.py URL MSG... - a minimal WebSocket client for the CLI tests (stdlib only).

Connects to a ws:// URL, reads the server's frames, and sends each MSG as one
masked text frame, after reading one server frame first (so each message goes
out once the server has spoken, as a client answering a status would).  Prints
each server text frame on stdout, "close CODE" for a close, and exits when the
server closes or after 5 seconds.  A test tool, not an example: whole frames,
no fragmentation, no TLS.
"""
import base64
import os
import socket
import struct
import sys
import time
from urllib.parse import urlparse


def read_exact(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def read_frame(s):
    h = read_exact(s, 2)
    op, ln = h[0] & 0x0f, h[1] & 0x7f
    if ln == 126:
        ln = struct.unpack('!H', read_exact(s, 2))[0]
    elif ln == 127:
        ln = struct.unpack('!Q', read_exact(s, 8))[0]
    return op, read_exact(s, ln)


def send_text(s, text):
    data = text.encode()
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack('!H', n))
    s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def main():
    u = urlparse(sys.argv[1])
    s = socket.create_connection((u.hostname, u.port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(('GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
               'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n'
               % (u.path or '/', u.hostname, u.port, key)).encode())
    head = b''
    while b'\r\n\r\n' not in head:
        head += read_exact(s, 1)
    if b' 101 ' not in head.split(b'\r\n')[0]:
        print('handshake refused:', head.split(b'\r\n')[0].decode(errors='replace'))
        return 1
    end = time.time() + 5
    for msg in sys.argv[2:]:
        op, payload = read_frame(s)
        if op == 8:
            print('close', struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else 0)
            return 0
        print(payload.decode(errors='replace'))
        send_text(s, msg)
    try:
        while time.time() < end:
            op, payload = read_frame(s)
            if op == 8:
                print('close', struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else 0)
                return 0
            print(payload.decode(errors='replace'))
    except (EOFError, socket.timeout, ConnectionError):
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
