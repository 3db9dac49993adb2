#!/usr/bin/env node
/*
 * json_parse_peer.js - Node's JSON.parse on the parse benchmark's corpus, as
 * a yardstick for pws_parse_frame().
 *
 *   node bench/json_parse_peer.js --corpus FILE [--reps R]
 *
 * Reads a corpus written by `parse_bench --write-corpus FILE` (one frame per
 * line), calls JSON.parse once per frame and reads every field of every
 * event, with the type checks of parse_bench's cJSON consumer (integers must
 * be integers, prices numbers, "sym" a string).
 *
 * The checksum.  The untimed warm pass folds the fields into the same
 * checksum as bench/checksum.h, computed in 32-bit halves (no BigInt), which
 * equals parse_bench's as long as every integer stays below 2^53 (JSON.parse
 * reads numbers as doubles; the feed's largest integers, millisecond
 * timestamps, are ~2^41) and the strings are ASCII (one byte per char, as the
 * feed's symbols and ids are).  That exact 64-bit hash costs JavaScript more
 * than the parse itself (on the 1M corpus: 1.70 s a pass against 0.70 s for
 * JSON.parse with a plain sum), so the timed passes fold every field into a
 * plain sum instead (numbers added, strings by length): the timing is
 * JSON.parse plus reading every field, as in the C consumers, without a
 * penalty the C hash does not pay.  --timed-checksum times the exact hash.
 *
 * After the warm pass it times --reps passes (default 5) and ends with the
 * line every parser of the table prints:
 *   RESULT {"parser":"node","events":N,...,"checksum":"hex"}
 * Exit status 1 if any element was not a well-formed market-data event.
 */
'use strict';

const fs = require('fs');

const EV_AGG = 1, EV_TRADE = 2, EV_QUOTE = 3, EV_PARSE_ERROR = 5;

/* The 64-bit hash state of checksum.h's bench_mix(), as two uint32 halves. */
let hhi = 0, hlo = 0;
/* Timed passes: a plain sum of every field instead of the hash. */
let light = false, lightSum = 0;

/* h ^= x; h *= 0x100000001B3; h ^= h >> 32;  with x = xhi:xlo.
 * h * (2^40 + 0x1B3) mod 2^64 = (h << 40) + h * 0x1B3. */
function mix(xhi, xlo) {
    if (light) {
        lightSum += xlo;
        return;
    }
    const hi = (hhi ^ xhi) >>> 0, lo = (hlo ^ xlo) >>> 0;
    const p = lo * 0x1B3; /* < 2^41: exact in a double */
    const plo = p % 4294967296;
    const carry = (p - plo) / 4294967296;
    const nhi = (Math.imul(hi, 0x1B3) + carry + (lo << 8)) >>> 0;
    hhi = nhi;
    hlo = (plo ^ nhi) >>> 0;
}

/* An integer (|x| < 2^53) as int64 bits. */
function mixInt(x) {
    if (light) {
        lightSum += x;
        return;
    }
    mix(Math.floor(x / 4294967296) >>> 0, x >>> 0);
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer); /* little-endian: [0] low, [1] high */

function mixDouble(d) {
    if (light) {
        lightSum += d;
        return;
    }
    f64[0] = d;
    mix(u32[1], u32[0]);
}

function mixStr(s) {
    if (light) {
        lightSum += s.length;
        return;
    }
    for (let k = 0; k < s.length; k++)
        mix(0, s.charCodeAt(k));
}

const isInt = Number.isInteger;

/* One event's fields into the hash; false if a field has the wrong type. */
function tallyAgg(o, minute) {
    let present = 0, ok = typeof o.sym === 'string' && o.sym.length < 32;
    const v = o.v, av = o.av, op = o.op, vw = o.vw, oo = o.o, c = o.c, h = o.h, l = o.l, a = o.a, z = o.z,
        s = o.s, e = o.e, otc = o.otc;
    if (v !== undefined) { ok = ok && isInt(v); present |= 1 << 0; }
    if (av !== undefined) { ok = ok && isInt(av); present |= 1 << 1; }
    if (op !== undefined) { ok = ok && typeof op === 'number'; present |= 1 << 2; }
    if (vw !== undefined) { ok = ok && typeof vw === 'number'; present |= 1 << 3; }
    if (oo !== undefined) { ok = ok && typeof oo === 'number'; present |= 1 << 4; }
    if (c !== undefined) { ok = ok && typeof c === 'number'; present |= 1 << 5; }
    if (h !== undefined) { ok = ok && typeof h === 'number'; present |= 1 << 6; }
    if (l !== undefined) { ok = ok && typeof l === 'number'; present |= 1 << 7; }
    if (a !== undefined) { ok = ok && typeof a === 'number'; present |= 1 << 8; }
    if (z !== undefined) { ok = ok && isInt(z); present |= 1 << 9; }
    if (s !== undefined) { ok = ok && isInt(s); present |= 1 << 10; }
    if (e !== undefined) { ok = ok && isInt(e); present |= 1 << 11; }
    if (otc !== undefined) { ok = ok && typeof otc === 'boolean'; present |= 1 << 12; }
    if (!ok)
        return false;
    mix(0, EV_AGG);
    mixStr(o.sym);
    mix((minute ? 1 << 8 : 0) | (otc === true ? 1 << 9 : 0), present);
    mixInt(v || 0);
    mixInt(av || 0);
    mixDouble(op || 0);
    mixDouble(vw || 0);
    mixDouble(oo || 0);
    mixDouble(c || 0);
    mixDouble(h || 0);
    mixDouble(l || 0);
    mixDouble(a || 0);
    mixInt(z || 0);
    mixInt(s || 0);
    mixInt(e || 0);
    return true;
}

function intList(list) {
    if (!Array.isArray(list) || list.length > 32)
        return false;
    for (let k = 0; k < list.length; k++)
        if (!isInt(list[k]))
            return false;
    return true;
}

function tallyTrade(o) {
    let present = 0, ok = typeof o.sym === 'string' && o.sym.length < 32;
    const x = o.x, i = o.i, z = o.z, p = o.p, s = o.s, c = o.c, t = o.t, q = o.q, trfi = o.trfi,
        trft = o.trft;
    if (x !== undefined) { ok = ok && isInt(x); present |= 1 << 0; }
    if (i !== undefined) { ok = ok && typeof i === 'string' && i.length < 64; present |= 1 << 1; }
    if (z !== undefined) { ok = ok && isInt(z); present |= 1 << 2; }
    if (p !== undefined) { ok = ok && typeof p === 'number'; present |= 1 << 3; }
    if (s !== undefined) { ok = ok && isInt(s); present |= 1 << 4; }
    if (c !== undefined) { ok = ok && intList(c); present |= 1 << 5; }
    if (t !== undefined) { ok = ok && isInt(t); present |= 1 << 6; }
    if (q !== undefined) { ok = ok && isInt(q); present |= 1 << 7; }
    if (trfi !== undefined) { ok = ok && isInt(trfi); present |= 1 << 8; }
    if (trft !== undefined) { ok = ok && isInt(trft); present |= 1 << 9; }
    if (!ok)
        return false;
    mix(0, EV_TRADE);
    mixStr(o.sym);
    mixStr(i || '');
    mix(0, present);
    mixInt(x || 0);
    mixInt(z || 0);
    mixDouble(p || 0);
    mixInt(s || 0);
    if (c !== undefined)
        for (let k = 0; k < c.length; k++)
            mixInt(c[k]);
    mixInt(t || 0);
    mixInt(q || 0);
    mixInt(trfi || 0);
    mixInt(trft || 0);
    return true;
}

function tallyQuote(o) {
    let present = 0, ok = typeof o.sym === 'string' && o.sym.length < 32;
    const bx = o.bx, bp = o.bp, bs = o.bs, ax = o.ax, ap = o.ap, as = o.as, c = o.c, i = o.i, t = o.t,
        q = o.q, z = o.z;
    if (bx !== undefined) { ok = ok && isInt(bx); present |= 1 << 0; }
    if (bp !== undefined) { ok = ok && typeof bp === 'number'; present |= 1 << 1; }
    if (bs !== undefined) { ok = ok && isInt(bs); present |= 1 << 2; }
    if (ax !== undefined) { ok = ok && isInt(ax); present |= 1 << 3; }
    if (ap !== undefined) { ok = ok && typeof ap === 'number'; present |= 1 << 4; }
    if (as !== undefined) { ok = ok && isInt(as); present |= 1 << 5; }
    if (c !== undefined) { ok = ok && isInt(c); present |= 1 << 6; }
    if (i !== undefined) { ok = ok && intList(i); present |= 1 << 7; }
    if (t !== undefined) { ok = ok && isInt(t); present |= 1 << 8; }
    if (q !== undefined) { ok = ok && isInt(q); present |= 1 << 9; }
    if (z !== undefined) { ok = ok && isInt(z); present |= 1 << 10; }
    if (!ok)
        return false;
    mix(0, EV_QUOTE);
    mixStr(o.sym);
    mix(0, present);
    mixInt(bx || 0);
    mixDouble(bp || 0);
    mixInt(bs || 0);
    mixInt(ax || 0);
    mixDouble(ap || 0);
    mixInt(as || 0);
    mixInt(c || 0);
    if (i !== undefined)
        for (let k = 0; k < i.length; k++)
            mixInt(i[k]);
    mixInt(t || 0);
    mixInt(q || 0);
    mixInt(z || 0);
    return true;
}

/* One pass over all frames; returns { events, errors }. */
function runOnce(frames) {
    let events = 0, errors = 0;
    hhi = 0;
    hlo = 0;
    lightSum = 0;
    for (let f = 0; f < frames.length; f++) {
        const arr = JSON.parse(frames[f]);
        for (let k = 0; k < arr.length; k++) {
            const o = arr[k];
            const ev = o.ev;
            let ok = false;
            events++;
            if (ev === 'T')
                ok = tallyTrade(o);
            else if (ev === 'Q')
                ok = tallyQuote(o);
            else if (ev === 'A' || ev === 'AM')
                ok = tallyAgg(o, ev === 'AM');
            if (!ok) {
                mix(0, EV_PARSE_ERROR);
                errors++;
            }
        }
    }
    return { events, errors };
}

function main() {
    const argv = process.argv.slice(2);
    let path = null, reps = 5, timedChecksum = false;
    for (let k = 0; k < argv.length; k++) {
        if (argv[k] === '--corpus' && k + 1 < argv.length)
            path = argv[++k];
        else if (argv[k] === '--timed-checksum')
            timedChecksum = true;
        else if (argv[k] === '--reps' && k + 1 < argv.length)
            reps = parseInt(argv[++k], 10);
        else
            path = null, k = argv.length;
    }
    if (path === null || !(reps >= 1 && reps <= 1000)) {
        process.stderr.write('usage: json_parse_peer.js --corpus FILE [--reps R (1..1000)] [--timed-checksum]\n');
        process.exit(1);
    }
    const frames = fs.readFileSync(path, 'latin1').split('\n').filter((line) => line.length > 0);
    let bytes = 0;
    for (const line of frames)
        bytes += line.length; /* latin1: one char per byte */
    console.log(`corpus: ${path}, ${frames.length} frames, ${(bytes / 1e6).toFixed(1)} MB; node ${process.version}`);

    const res = runOnce(frames); /* warm pass, untimed (JIT tiers), with the exact checksum */
    const checksum = hhi.toString(16).padStart(8, '0') + hlo.toString(16).padStart(8, '0');
    light = !timedChecksum;
    const times = [];
    for (let r = 0; r < reps; r++) {
        const t0 = process.hrtime.bigint();
        const again = runOnce(frames);
        if (again.events !== res.events || again.errors !== res.errors)
            throw new Error('passes differ');
        times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    times.sort((a, b) => a - b);
    const best = times[0], worst = times[times.length - 1];
    const median = reps % 2 ? times[(reps - 1) / 2] : (times[reps / 2 - 1] + times[reps / 2]) / 2;
    console.log(`node: best of ${reps} ${best.toFixed(3)} s  ${(res.events / best).toFixed(0)} events/s  ` +
                `${(bytes / 1e6 / best).toFixed(1)} MB/s  checksum ${checksum}` +
                (light ? ` (timed: plain field sum ${lightSum})` : ''));
    console.log('RESULT ' + JSON.stringify({
        parser: 'node', events: res.events, bytes, reps, best_s: +best.toFixed(6), median_s: +median.toFixed(6),
        worst_s: +worst.toFixed(6), checksum,
    }));
    process.exit(res.errors ? 1 : 0);
}

main();
