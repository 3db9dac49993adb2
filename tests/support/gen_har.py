#!/usr/bin/python3
"""gen_har.py - writes a Chrome-style HAR file with many WebSocket messages, for
`polyws tape from-har` tests and benchmarks (tests/integration/har_stream.sh,
bench/har_bench.sh).

    gen_har.py OUT.har --messages N [--conns C] [--seed S] [--key KEY]
               [--big BYTES] [--unsorted]

N messages spread round-robin over C connections (one log.entries element each,
in Chrome's member order) whose times interleave, so the tape must merge them:
each connection's messages are 1 ms apart and connection k starts k * 0.1 ms
after the first.  Each connection opens with the server's greeting, the
client's auth message carrying KEY (which the tape must redact) and a
subscription; then aggregates (text, about 150 bytes), with a binary frame
every 50th message.  --big adds one text message of BYTES bytes to the first
connection.  --unsorted shuffles each entry's messages in blocks of 8 (a
browser lists them in time order; a tool might not).  The file is written as
it is generated: memory stays small for any N.  Deterministic for a seed.

With --expect, prints (instead of writing the HAR) what the tape must hold:
"lines N" (frames, opens included) and "conns C".
"""
import argparse
import base64
import json
import random
import sys


def messages_of(conn, count, args, rng):
    """Yields (time, type, opcode, data) for one connection, in time order."""
    t = 1700000000.0 + conn * 0.0001
    fixed = [
        ("receive", 1, '[{"ev":"status","status":"connected","message":"Connected Successfully"}]'),
        ("send", 1, json.dumps({"action": "auth", "params": args.key}, separators=(",", ":"))),
        ("receive", 1, '[{"ev":"status","status":"auth_success","message":"authenticated"}]'),
        ("send", 1, '{"action":"subscribe","params":"A.*"}'),
    ]
    syms = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "TSLA", "META", "NFLX"]
    for i in range(count):
        if i < len(fixed):
            kind, op, data = fixed[i]
        elif i % 50 == 0:
            kind, op = "receive", 2
            data = base64.b64encode(bytes(rng.randrange(256) for _ in range(24))).decode()
        else:
            kind, op = "receive", 1
            sym = syms[i % len(syms)]
            px = 100 + (i % 997) / 10
            data = ('[{"ev":"A","sym":"%s","v":%d,"av":%d,"op":%.2f,"vw":%.4f,"o":%.2f,"c":%.2f,'
                    '"h":%.2f,"l":%.2f,"a":%.4f,"z":%d,"s":%d,"e":%d}]'
                    % (sym, 100 + i % 900, 10000 + i, px, px, px, px + 0.1, px + 0.2, px - 0.1, px, 50,
                       1700000000000 + i, 1700000001000 + i))
        if conn == 0 and i == len(fixed) and args.big:
            yield t, "receive", 1, "x" * args.big
            t += 0.001
        yield t, kind, op, data
        t += 0.001


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--key", default="GENHAR-SECRET-KEY-0123456789")
    ap.add_argument("--big", type=int, default=0)
    ap.add_argument("--unsorted", action="store_true")
    ap.add_argument("--expect", action="store_true")
    args = ap.parse_args()
    per = [args.messages // args.conns + (1 if k < args.messages % args.conns else 0) for k in range(args.conns)]
    if args.expect:
        print("lines %d" % (args.messages + args.conns + (1 if args.big else 0)))
        print("conns %d" % args.conns)
        return 0
    rng = random.Random(args.seed)
    with open(args.out, "w", buffering=1 << 20) as f:
        f.write('{"log":{"version":"1.2","creator":{"name":"WebInspector","version":"537.36"},"pages":[],'
                '"entries":[\n')
        for conn in range(args.conns):
            if conn:
                f.write(",\n")
            f.write('{"_initiator":{"type":"script"},"_resourceType":"websocket","cache":{},"connection":"%d",'
                    '"request":{"method":"GET","url":"wss://socket.polygon.io/stocks?apiKey=%s",'
                    '"httpVersion":"HTTP/1.1","headers":[{"name":"Host","value":"socket.polygon.io"},'
                    '{"name":"Cookie","value":"sid=%s"},{"name":"Upgrade","value":"websocket"}],'
                    '"queryString":[],"cookies":[],"headersSize":-1,"bodySize":0},'
                    '"response":{"status":101,"statusText":"Switching Protocols","httpVersion":"HTTP/1.1",'
                    '"headers":[],"cookies":[],"content":{"size":0,"mimeType":"x-unknown"},"redirectURL":"",'
                    '"headersSize":-1,"bodySize":0,"_transferSize":0},"serverIPAddress":"127.0.0.1",'
                    '"startedDateTime":"2023-11-14T22:13:20.%03dZ","time":0,'
                    '"timings":{"blocked":-1,"dns":-1,"ssl":-1,"connect":-1,"send":0,"wait":0,"receive":0},'
                    '"_webSocketMessages":[\n' % (conn, args.key, args.key, conn % 1000))
            msgs = list(messages_of(conn, per[conn], args, rng)) if args.unsorted else messages_of(conn, per[conn],
                                                                                                  args, rng)
            if args.unsorted:
                for b in range(0, len(msgs), 8):
                    block = msgs[b:b + 8]
                    rng.shuffle(block)
                    msgs[b:b + 8] = block
            for i, (t, kind, op, data) in enumerate(msgs):
                f.write('%s{"type":"%s","time":%.6f,"opcode":%d,"data":%s}' %
                        (",\n" if i else "", kind, t, op, json.dumps(data)))
            f.write("]}")
        f.write("]}}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
