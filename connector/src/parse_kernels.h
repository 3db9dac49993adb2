/*
 * parse_kernels.h - which of the frame parser's optional kernels run (library-
 * internal; the tests and the fuzz target switch them, nothing else should).
 *
 * The parser has one general path that handles every input, and two
 * speed-ups that must give bit-identical events:
 *   - the schema fast path (parse_fast.c): an element laid out exactly as
 *     Polygon writes it is read in one straight pass; anything else is handed
 *     back to the general path untouched;
 *   - SIMD string scanning (SSE2, the x86-64 baseline, so no run-time check
 *     is needed; other targets use the portable 8-byte SWAR code).
 * Turning them off selects the portable, general code, which is how the test
 * suite runs every parser test under each combination.
 */
#ifndef POLYWS_PARSE_KERNELS_H
#define POLYWS_PARSE_KERNELS_H

#define PWS__PARSE_FAST 0x1u /* the schema fast path (parse_fast.c) */
#define PWS__PARSE_SIMD 0x2u /* SSE2 string scanning where available */
#define PWS__PARSE_ALL (PWS__PARSE_FAST | PWS__PARSE_SIMD)

/* The kernels in use, PWS__PARSE_ALL by default.  Not synchronised: set it
 * only while no thread is parsing (tests, fuzz targets, benchmarks). */
extern unsigned pws__parse_kernels;

#endif /* POLYWS_PARSE_KERNELS_H */
