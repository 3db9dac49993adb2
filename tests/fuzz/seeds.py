#!/usr/bin/python3
"""seeds.py - writes the seed corpora of fuzz_mockreq and fuzz_proxy from the repository's own files.

    tests/fuzz/seeds.py [--polyws build/cli/polyws]

corpus_mockreq/ (the input format is in fuzz_mockreq.c):
  tape_*       the client frames of each tape under tests/ (its connections as up to three
               clients), once against each real-service setting; "***" auth params become a key
               the setting accepts
  scenario_*   a client doing what each scenario in scenarios/ has its client do (auth, then
               subscribe to its channels; two clients if it has a script for connection 2),
               against the server playing that scenario
  edge_*       hand-written: fragments, control frames, bad UTF-8, oversize, wrong paths, raw
               HTTP, rate limits, kicks

corpus_proxy/ (the input format is in fuzz_proxy.c):
  mock_*       what the real mock (polyws mock SCENARIO) sends to a client that authenticates and
               subscribes: its 101 (the accept value replaced by {{ACCEPT}}) and its frames, for
               every scenario without TLS
  tape_*       the server frames of each tape under tests/, framed after a 101
  edge_*       hand-written: refusals, wrong accept values, malformed heads, split heads,
               fragments, masked or reserved-bit frames, oversize, secrets in frames

Existing files are overwritten; inputs found by fuzzing (crash-*, regression inputs) are kept.
"""
import argparse
import base64
import glob
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# fuzz_mockreq.c: record kinds, the keys of setting 0, the paths table
KINDS = dict(OPEN=0, TEXT=1, BINARY=2, TEXT_FIRST=3, BINARY_FIRST=4, CONT=5, CONT_LAST=6, PING=7,
             PONG=8, CLOSE=9, RAW=10, BIG=11, SHUT=12)
KEY0 = "FUZZKEY-4f3c2a1b9d"
PATHS = ["/stocks", "/options", "/forex", "/crypto", "/indices", "/stocks/", "/", "/nope"]
# fuzz_proxy.c: the configured secret, the learned key
PROXY_SECRET = "PROXYSECRET-7c1d2e3f"
LEARNED = "LEARNEDKEY-a9b8c7d6e5"
ACCEPT = b"{{ACCEPT}}"


def rec(kind, payload=b"", client=0):
    if isinstance(payload, str):
        payload = payload.encode()
    return bytes([(KINDS[kind] << 2) | client]) + struct.pack("<H", len(payload)) + payload


def auth(key):
    return json.dumps({"action": "auth", "params": key}, separators=(",", ":"))


def subscribe(channels, action="subscribe"):
    return json.dumps({"action": action, "params": channels}, separators=(",", ":"))


def frame(op, payload, fin=True, mask=None, rsv=0):
    """A WebSocket frame (masked if mask is given)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        head += mask
    return head + payload


def write(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def tapes():
    """Every tape under tests/: (name, [(conn, dir, kind, bytes, code, reason)])."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "**", "*.tape"), recursive=True)):
        lines = []
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        v = json.loads(line)
                    except ValueError:
                        continue
                    if not isinstance(v, dict) or "dir" not in v or "kind" not in v:
                        continue
                    data = v.get("data")
                    if isinstance(data, str):
                        data = data.encode()
                    elif isinstance(v.get("data_b64"), str):
                        try:
                            data = base64.b64decode(v["data_b64"])
                        except ValueError:
                            data = b""
                    else:
                        data = b""
                    conn = v.get("conn") if isinstance(v.get("conn"), int) else 1
                    code = v.get("code") if isinstance(v.get("code"), int) else 0
                    reason = v.get("reason") if isinstance(v.get("reason"), str) else ""
                    lines.append((conn, v["dir"], v["kind"], data, code, reason))
        except OSError:
            continue
        rel = os.path.relpath(path, os.path.join(ROOT, "tests")).replace("/", "_")
        out.append((rel[:-5], lines))
    return out


def close_payload(code, reason):
    return (struct.pack(">H", code & 0xFFFF) if code else b"") + reason.encode()[:123]


def mockreq_from_tape(lines, setting):
    out = bytes([setting])
    kinds = {"text": "TEXT", "binary": "BINARY", "ping": "PING", "pong": "PONG"}
    for conn, d, kind, data, code, reason in lines:
        if d != "c":
            continue
        client = (conn - 1) % 3 if conn >= 1 else 0
        if kind == "close":
            out += rec("CLOSE", close_payload(code, reason), client)
        elif kind in kinds:
            if setting == 0:
                data = data.replace(b'"params":"***"', b'"params":"' + KEY0.encode() + b'"')
            out += rec(kinds[kind], data[:4000], client)
    return out


def scenario_files():
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "scenarios", "*.yaml")))


def load_yaml(name):
    try:
        with open(os.path.join(ROOT, "scenarios", name)) as f:
            v = yaml.safe_load(f)
        return v if isinstance(v, dict) else {}
    except (OSError, yaml.YAMLError):
        return {}


def channels_of(sc):
    sub = (sc.get("client") or {}).get("subscribe") or "A.AAPL"
    return ",".join(sub) if isinstance(sub, list) else str(sub)


def key_of(sc):
    keys = (sc.get("server") or {}).get("keys")
    if isinstance(keys, list) and keys:
        return str(keys[0])
    if isinstance(keys, str):
        return keys
    return KEY0


def mockreq_from_scenario(index, sc):
    out = bytes([2 + index])
    conns = sc.get("connections") or {}
    clients = 2 if isinstance(conns, dict) and (2 in conns or "2" in conns) else 1
    for c in range(clients):
        out += rec("OPEN", b"\x00", c)
        out += rec("TEXT", auth(key_of(sc)), c)
        out += rec("TEXT", subscribe(channels_of(sc)), c)
    out += rec("PONG", b"", 0) + rec("CLOSE", close_payload(1000, "done"), 0)
    return out


def mockreq_edges():
    k = KEY0
    e = {}
    good = rec("OPEN", b"\x00") + rec("TEXT", auth(k)) + rec("TEXT", subscribe("A.AAPL,T.MSFT,Q.*"))
    e["fragmented_auth"] = bytes([0]) + rec("OPEN", b"\x00") + rec("TEXT_FIRST", '{"action":"au') + \
        rec("PING", "in between") + rec("CONT", 'th","params":"') + rec("CONT_LAST", k + '"}') + \
        rec("TEXT", subscribe("AM.*"))
    e["continuation_first"] = bytes([0]) + rec("CONT_LAST", auth(k)) + rec("TEXT", auth(k))
    e["text_in_fragment"] = bytes([0]) + rec("TEXT_FIRST", "{") + rec("TEXT", auth(k))
    e["binary_fragments"] = bytes([0]) + good + rec("BINARY_FIRST", b"\x00\x01") + rec("CONT_LAST", b"\xff")
    e["bad_utf8"] = bytes([0]) + good + rec("TEXT", b'{"action":"subscribe","params":"A.\xc3\x28"}')
    e["bad_utf8_split"] = bytes([0]) + good + rec("TEXT_FIRST", b'{"x":"\xe2\x82') + rec("CONT_LAST", b'\xac"}')
    e["oversize"] = bytes([0]) + good + rec("BIG", struct.pack("<H", 300) + b'{"action":"subscribe"}')
    e["oversize_fragments"] = bytes([0]) + good + rec("TEXT_FIRST", "x" * 3000) + rec("CONT_LAST", "y" * 3000)
    e["ping_too_long"] = bytes([0]) + good + rec("PING", "p" * 200)
    e["ping_fragmented"] = bytes([0]) + good + rec("RAW", frame(9, "ab", fin=False, mask=b"\x01\x02\x03\x04"))
    e["close_with_key"] = bytes([0]) + good + rec("CLOSE", close_payload(4000, "bye " + k))
    e["pong_with_key"] = bytes([0]) + good + rec("PONG", k)
    e["close_empty"] = bytes([0]) + good + rec("CLOSE", b"")
    e["close_one_byte"] = bytes([0]) + good + rec("CLOSE", b"\x03")
    e["close_bad_code"] = bytes([0]) + good + rec("CLOSE", close_payload(999, "x"))
    e["unmasked"] = bytes([0]) + good + rec("RAW", frame(1, subscribe("A.MSFT")))
    e["reserved_bits"] = bytes([0]) + good + rec("RAW", frame(1, "{}", mask=b"\x09\x08\x07\x06", rsv=4))
    e["reserved_opcode"] = bytes([0]) + good + rec("RAW", frame(3, "{}", mask=b"\x09\x08\x07\x06"))
    e["length_64bit"] = bytes([0]) + good + rec("RAW", b"\x81\xff\x7f\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00")
    e["not_json"] = bytes([0]) + good + rec("TEXT", "hello") + rec("TEXT", "auth " + k) + rec("TEXT", "[1,2]")
    e["unknown_action"] = bytes([0]) + good + rec("TEXT", '{"action":"sub"}') + rec("TEXT", '{"action":5}')
    e["auth_escaped"] = bytes([0]) + rec("TEXT", '{"\\u0061ction":"auth","params":"' + k + '"}') + \
        rec("TEXT", '{"action":"auth","params":"' + k + '","params":"x"}')
    e["auth_wrong_key"] = bytes([0]) + rec("TEXT", auth("wrong-key-1234")) + rec("TEXT", subscribe("A.AAPL"))
    e["subscribe_before_auth"] = bytes([0]) + rec("TEXT", subscribe("A.AAPL")) + rec("TEXT", auth(k))
    e["repeated_auth"] = bytes([0]) + good + b"".join(rec("TEXT", auth(k)) for _ in range(5))
    e["rate_limit"] = bytes([0]) + good + b"".join(rec("TEXT", subscribe("T.AAPL")) for _ in range(14))
    e["plan_markets"] = bytes([0]) + rec("OPEN", b"\x02") + rec("TEXT", auth(k)) + \
        rec("TEXT", subscribe("C.EUR-USD,A.AAPL")) + rec("OPEN", b"\x03", 1) + rec("TEXT", auth(k), 1) + \
        rec("TEXT", subscribe("XT.X:BTCUSD,LULD.AAPL,.,A.,X", "subscribe"), 1)
    e["unsubscribe"] = bytes([0]) + good + rec("TEXT", subscribe("A.AAPL,Q.*", "unsubscribe")) + \
        rec("TEXT", subscribe("," * 10 + " T.MSFT ,", "subscribe"))
    e["channel_is_key"] = bytes([0]) + good + rec("TEXT", subscribe("A." + k))
    e["max_per_key"] = bytes([0]) + b"".join(rec("OPEN", b"\x00", c) + rec("TEXT", auth(k), c) for c in range(3))
    e["kick_newer"] = bytes([1]) + b"".join(rec("OPEN", b"\x00", c) + rec("TEXT", auth("same-key"), c) +
                                            rec("TEXT", subscribe("A.AAPL"), c) for c in range(3))
    e["scripts_by_ordinal"] = bytes([1]) + b"".join(rec("TEXT", auth("key-%d" % c), c) + rec("TEXT", subscribe("T.*"), c)
                                                    for c in range(3)) + rec("PING", "x", 2)
    e["rate_close"] = bytes([1]) + rec("TEXT", auth("abcd")) + b"".join(rec("TEXT", "{}") for _ in range(8))
    e["paths"] = bytes([0]) + rec("OPEN", b"\x06") + rec("OPEN", b"\x07", 1) + rec("OPEN", b"\x08", 2) + \
        rec("TEXT", auth(k), 2)
    e["extra_headers"] = bytes([0]) + rec("OPEN", b"\x04Sec-WebSocket-Protocol: x\r\nSec-WebSocket-Extensions: "
                                          b"permessage-deflate\r\nOrigin: null\r\n") + rec("TEXT", auth(k))
    e["raw_http_garbage"] = bytes([0]) + rec("RAW", b"GET /stocks HTTP/1.1\r\nHost: x\r\n\r\n") + \
        rec("RAW", b"POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", 1) + rec("RAW", b"\x16\x03\x01\x00\x05hello", 2)
    e["raw_upgrade"] = bytes([0]) + rec("RAW", b"GET /crypto HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                         b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
                                         b"Sec-WebSocket-Version: 13\r\n\r\n" +
                                         frame(1, auth(k), mask=b"\x11\x22\x33\x44"))
    e["half_close"] = bytes([0]) + good + rec("SHUT") + rec("TEXT", auth(k))
    return e


# ---------------------------------------------------------------- the proxy's upstream bytes

def upgrade_response(extra=b""):
    return b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
           b"Sec-WebSocket-Accept: " + ACCEPT + b"\r\n" + extra + b"\r\n"


def record_mock(polyws, scenario, sc):
    """What polyws mock sends a client that authenticates and subscribes (about a second)."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        proc = subprocess.Popen([polyws, "mock", "--port-file", port_file, "--duration", "20",
                                 os.path.join(ROOT, "scenarios", scenario)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            while time.time() < deadline and not (os.path.exists(port_file) and os.path.getsize(port_file)):
                time.sleep(0.02)
            line = open(port_file).read().split()[-1]
            host, port = line.rsplit("/", 1)[-1].rsplit(":", 1)
            s = socket.create_connection((host, int(port)), timeout=3)
            key = base64.b64encode(os.urandom(16))
            s.sendall(b"GET /stocks HTTP/1.1\r\nHost: " + host.encode() + b"\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
            got = b""
            sent = False
            end = time.time() + 1.2
            s.settimeout(0.1)
            while time.time() < end and len(got) < 12000:
                if not sent and b"\r\n\r\n" in got:
                    mask = os.urandom(4)
                    s.sendall(frame(1, auth(key_of(sc)), mask=mask) +
                              frame(1, subscribe(channels_of(sc)), mask=mask))
                    sent = True
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not b:
                    break
                got += b
            s.close()
        finally:
            proc.terminate()
            proc.wait()
    head_end = got.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = got[:head_end + 4]
    lines = [l for l in head.split(b"\r\n")]
    lines = [b"Sec-WebSocket-Accept: " + ACCEPT if l.lower().startswith(b"sec-websocket-accept:") else l
             for l in lines]
    return b"\r\n".join(lines) + got[head_end + 4:12000]


def proxy_from_tape(lines):
    out = upgrade_response()
    ops = {"text": 1, "binary": 2, "ping": 9, "pong": 10}
    for conn, d, kind, data, code, reason in lines:
        if d != "s" or conn != 1:
            continue
        if kind == "close":
            out += frame(8, close_payload(code, reason))
        elif kind in ops:
            out += frame(ops[kind], data[:6000])
    return out


def proxy_edges():
    ok = upgrade_response()
    status = frame(1, '[{"ev":"status","status":"connected","message":"Connected Successfully"}]')
    e = {}
    e["refused_403"] = bytes([0]) + b"HTTP/1.1 403 Forbidden " + PROXY_SECRET.encode() + b"\r\nContent-Length: 0\r\n\r\n"
    e["refused_no_reason"] = bytes([1]) + b"HTTP/1.1 500\r\n\r\n"
    e["wrong_accept"] = bytes([0]) + ok.replace(ACCEPT, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") + status
    e["no_accept"] = bytes([0]) + b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n" + status
    e["malformed_header"] = bytes([0]) + b"HTTP/1.1 101 OK\r\nno colon " + PROXY_SECRET.encode() + b"\r\n\r\n"
    e["bad_status_line"] = bytes([0]) + b"HTTP/1.1 1011 Switching\r\n\r\n"
    e["not_http"] = bytes([0]) + b"SSH-2.0-OpenSSH_9.2\r\n\r\n"
    e["head_too_large"] = bytes([2]) + b"HTTP/1.1 101 OK\r\n" + b"X-Pad: " + b"a" * 17000 + b"\r\n\r\n"
    e["protocol_header"] = bytes([3]) + upgrade_response(b"Sec-WebSocket-Protocol: polygon\r\n") + status
    e["split_head"] = bytes([1 | 0x08]) + ok + status + frame(1, '[{"ev":"status","status":"auth_success"}]')
    e["early_auth_echo"] = bytes([0x08 | 4]) + ok + frame(1, '[{"message":"bad key ' + LEARNED + '"}]') + \
        frame(1, '[{"ev":"status","status":"auth_failed","message":"' + PROXY_SECRET + '"}]')
    e["fragmented"] = bytes([5]) + ok + frame(1, '[{"ev":"A",', fin=False) + frame(9, "ping", fin=True) + \
        frame(0, '"sym":"AAPL"}]', fin=True)
    e["continuation_first"] = bytes([0]) + ok + frame(0, "x") + status
    e["control_fragmented"] = bytes([0]) + ok + frame(9, "x", fin=False)
    e["control_too_long"] = bytes([0]) + ok + frame(10, "p" * 126)
    e["masked_server_frame"] = bytes([0]) + ok + frame(1, "[]", mask=b"\x01\x02\x03\x04")
    e["reserved_bits"] = bytes([0]) + ok + status + frame(1, "[]", rsv=2)
    e["oversize"] = bytes([0x10 | 6]) + ok + frame(1, "[" + "1," * 400 + "1]") + frame(2, b"\x00" * 301) + status
    e["oversize_fragments"] = bytes([0x10]) + ok + frame(1, "a" * 200, fin=False) + frame(0, "b" * 200) + status
    e["bad_utf8"] = bytes([0]) + ok + frame(1, b'[{"x":"\xc3\x28"}]') + frame(8, b"\x03\xe8\xff\xfe")
    e["close_long_reason"] = bytes([0]) + ok + frame(8, b"\x0f\xa0" + b"r" * 123)
    e["close_one_byte"] = bytes([0]) + ok + frame(8, b"\x03")
    e["close_with_secret"] = bytes([0x08]) + ok + frame(8, b"\x03\xe8" + PROXY_SECRET.encode() + b" " + LEARNED.encode())
    e["length_64bit"] = bytes([0]) + ok + b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"
    e["frames_after_close"] = bytes([7]) + ok + frame(8, b"\x03\xe8") + status
    e["query_and_path"] = bytes([0x20 | 0x40]) + ok + status
    return e


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--polyws", default=os.path.join(ROOT, "build", "cli", "polyws"),
                    help="the polyws binary that runs the mock for corpus_proxy/mock_*")
    a = ap.parse_args()
    mr = os.path.join(HERE, "corpus_mockreq")
    px = os.path.join(HERE, "corpus_proxy")
    os.makedirs(mr, exist_ok=True)
    os.makedirs(px, exist_ok=True)

    for name, lines in tapes():
        if any(d == "c" for _, d, _, _, _, _ in lines):
            for setting in (0, 1):
                write(mr, "tape_%s_s%d" % (name, setting), mockreq_from_tape(lines, setting))
        if any(d == "s" for _, d, _, _, _, _ in lines):
            write(px, "tape_" + name, bytes([0x08]) + proxy_from_tape(lines))
    for i, name in enumerate(scenario_files()):
        sc = load_yaml(name)
        write(mr, "scenario_" + name[:-5], mockreq_from_scenario(i, sc))
        if (sc.get("server") or {}).get("tls"):
            continue
        if not os.access(a.polyws, os.X_OK):
            continue
        got = record_mock(a.polyws, name, sc)
        if got:
            write(px, "mock_" + name[:-5], bytes([i % 8]) + got)
    if not os.access(a.polyws, os.X_OK):
        print("seeds.py: %s not found: corpus_proxy/mock_* not written" % a.polyws, file=sys.stderr)
    for name, data in mockreq_edges().items():
        write(mr, "edge_" + name, data)
    for name, data in proxy_edges().items():
        write(px, "edge_" + name, data)
    print("corpus_mockreq: %d files, corpus_proxy: %d files" % (len(os.listdir(mr)), len(os.listdir(px))))


if __name__ == "__main__":
    main()
