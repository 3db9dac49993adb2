#!/usr/bin/python3
"""doc_console.py - runs the ```console blocks of a Markdown document and compares what each
command prints with what the document shows (tests/integration/recording_doc.sh).

    doc_console.py check DOC WORKDIR    run every block's commands in WORKDIR, exit 1 on a difference
    doc_console.py update DOC WORKDIR   run them and write their real output into DOC

In a ```console block a line starting with "$ " is a command; the lines after it, up to the next
command or the end of the block, are what it prints (stdout and stderr together).  All commands
of the document run in order in one bash process (set -u is not set; a failing command does not
stop the rest), so variables, files and background jobs carry over.  Compared after the
normalization below, which hides only what differs from run to run: durations "(0.1 s)" and
"after 0.1 s", loopback ports, and the slowest auth's milliseconds.
"""
import re
import subprocess
import sys

NORMALIZE = [
    (re.compile(r"\((\d+(\.\d+)?) s\)"), "(T s)"),
    (re.compile(r"after \d+(\.\d+)? s"), "after T s"),
    (re.compile(r"(wss?)://127\.0\.0\.1:\d+"), r"\1://127.0.0.1:PORT"),
    (re.compile(r"\(slowest \d+ ms\)"), "(slowest N ms)"),
]


def normalize(text):
    for rx, rep in NORMALIZE:
        text = rx.sub(rep, text)
    return text


def parse(lines):
    """[(index of the command line, command, [expected lines], indent)] of every console block
    (a block may be indented, e.g. inside a list item: its fence's indentation is removed)."""
    cmds = []
    indent = None
    for i, line in enumerate(lines):
        text = line.rstrip("\n")
        if indent is None:
            if text.strip() == "```console":
                indent = text[:len(text) - len(text.lstrip())]
            continue
        if text.strip() == "```":
            indent = None
            continue
        text = text[len(indent):] if text.startswith(indent) else text.lstrip()
        if text.startswith("$ "):
            cmds.append([i, text[2:], [], indent])
        elif cmds:
            cmds[-1][2].append(text)
    return cmds


def run(cmds, workdir):
    script = ["exec 2>&1"]
    for n, (_, cmd, _, _) in enumerate(cmds):
        script.append("printf '\\n@@CMD %d@@\\n'" % n)
        script.append(cmd)
    script.append("printf '\\n@@CMD end@@\\n'")
    p = subprocess.run(["bash", "-c", "\n".join(script)], cwd=workdir, stdout=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=600)
    out = p.stdout.decode("utf-8", "replace")
    parts = re.split(r"\n?@@CMD (\d+|end)@@\n", out)
    got = {}
    for k in range(1, len(parts) - 1, 2):
        if parts[k] != "end":
            body = parts[k + 1]
            body = body[:-1] if body.endswith("\n") else body
            got[int(parts[k])] = body.split("\n") if body else []
    return [got.get(n, ["(no output marker: the script stopped before this command)"]) for n in range(len(cmds))]


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("check", "update"):
        sys.exit(__doc__)
    mode, doc, workdir = sys.argv[1:]
    with open(doc) as f:
        lines = f.readlines()
    cmds = parse(lines)
    if not cmds:
        sys.exit("%s: no ```console block with a '$ ' command" % doc)
    outputs = run(cmds, workdir)
    if mode == "update":
        new = []
        skip = set()
        for (i, _, want, _), got in zip(cmds, outputs):
            skip.update(range(i + 1, i + 1 + len(want)))
        by_line = {i: (got, ind) for (i, _, _, ind), got in zip(cmds, outputs)}
        for i, line in enumerate(lines):
            if i in skip:
                continue
            new.append(line)
            if i in by_line:
                got, ind = by_line[i]
                new.extend((ind + l if l else l) + "\n" for l in got)
        with open(doc, "w") as f:
            f.writelines(new)
        print("%s: %d commands, output written" % (doc, len(cmds)))
        return 0
    bad = 0
    for (i, cmd, want, _), got in zip(cmds, outputs):
        w, g = normalize("\n".join(want)), normalize("\n".join(got))
        if w == g:
            print("ok   - %s:%d: %s" % (doc, i + 1, cmd[:100]))
        else:
            bad += 1
            print("FAIL - %s:%d: %s" % (doc, i + 1, cmd[:100]))
            print("       the document shows:")
            print("\n".join("       | " + l for l in want) or "       | (nothing)")
            print("       the command printed:")
            print("\n".join("       | " + l for l in got) or "       | (nothing)")
    print("%d of %d commands print what %s shows" % (len(cmds) - bad, len(cmds), doc))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
