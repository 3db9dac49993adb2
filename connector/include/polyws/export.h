/*
 * polyws/export.h - which declarations form libpolyws' binary interface.
 *
 * libpolyws is compiled with -fvisibility=hidden: a function is exported from
 * the shared library (libpolyws.so) only if its declaration carries PWS_API,
 * so the library's internals (pws__ names, wire's code linked into it) stay
 * out of the dynamic symbol table and cannot clash with the application's.
 * Every function declared in the installed headers carries it.  In the
 * static library the attribute changes nothing for the program that links it.
 *
 * Included by <polyws/events.h>, hence by every public header.
 */
#ifndef POLYWS_EXPORT_H
#define POLYWS_EXPORT_H

#if defined(__GNUC__) && __GNUC__ >= 4
#define PWS_API __attribute__((visibility("default")))
#else
#define PWS_API
#endif

#endif /* POLYWS_EXPORT_H */
