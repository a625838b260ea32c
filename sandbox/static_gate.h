/* static_gate.h — the bytecode static gate (SPEC §9/§10, issue 5). Runs in the trusted parent
 * right after intake, before any child: every bundle .lua file is compiled in text mode in a
 * throwaway plain LuaJIT state (nothing of the bundle runs) and its bytecode, nested functions
 * included, is scanned by the embedded tools.static_gate (lua/tools/static_gate.lua) for
 * reads and writes of forbidden globals and require of modules outside the stdlib and the
 * bundle. Rule ids: prism:sandbox-no-filesystem, -no-process, -no-ffi, -no-dynamic-code,
 * -no-debug, -no-network, prism:forbidden-module; a file that does not compile gives
 * prism:syntax. Every hit carries the bundle file and line. */
#ifndef PRISM_SANDBOX_STATIC_GATE_H
#define PRISM_SANDBOX_STATIC_GATE_H

#include "bundle.h"
#include "failure.h"

/* Scans the bundle; returns the number of hits (0 = clean) and, when > 0, a malloc'd array of
 * them in *hits, sorted by file then line (free() it). On an internal problem (no memory, the
 * tool missing from the build) returns -1 with one prism:internal failure in *hits (or NULL
 * when even that cannot be allocated). */
int prism_static_gate_scan(const prism_bundle *b, prism_failure **hits);

#endif
