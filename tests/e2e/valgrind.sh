#!/usr/bin/env bash
# tests/e2e/valgrind.sh — the README's example, `prism run examples/tiny-1m` on the bundled sample,
# end to end under `valgrind --error-exitcode=1` (memcheck): the parent and each jailed child it
# forks (the static gate, the scored run, the held-out pass) get their own log (--log-file %p),
# because a child's valgrind exit code only reaches us through the parent's verdict. Passes when
# the run is scored (exit 0) and every one of the four logs ends with "ERROR SUMMARY: 0 errors".
# No suppressions are needed today (LuaJIT, libgomp and OpenBLAS report nothing on this run); a
# library false positive would go into a narrowly scoped tests/valgrind.supp, never our code.
# Registered with the labels e2e and valgrind in plain builds only (tests/tests.cmake): a
# sanitizer build cannot run under valgrind. Under valgrind the jail installs no seccomp filter
# and lowers only the soft RLIMIT_NOFILE (runtime/jail.c says why); everything else is as in a
# real run.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

if ! command -v valgrind >/dev/null 2>&1; then
  not_ok "valgrind is not installed (scripts/setup installs the Debian package)"
  finish
fi
if ! "$PRISM" tokenizers verify >/dev/null 2>&1; then
  echo "skipped: the example needs the staged reference tokenizers (scripts/stage-tokenizers build/reference-tokenizers)"
  finish
fi

# Memcheck runs this model about 50x slower than the hardware: a budget of two batches (4 windows of
# 128 tokens each; the second AdamW step reuses the moment buffers of the first) and a small
# held-out slice still cover every stage and every kind of kernel (forward, backward, AdamW,
# clipping, the no-grad instrument and held-out forwards, the safetensors save and load).
BUDGET=(--token-budget 1024 --heldout-bytes 1024)
# A set OMP_WAIT_POLICY keeps prism from re-executing itself (main.c); one thread is faster under
# valgrind, which runs a process's threads one at a time anyway. OpenBLAS picks its Haswell
# kernels under valgrind, whose FMA instructions valgrind emulates with a helper call per element:
# the held-out pass alone took over 5 CPU minutes. Its Sandybridge kernels (AVX, no FMA) run at
# valgrind's usual speed; they are OpenBLAS's code either way, ours does not change.
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Sandybridge

VG=$TMP/valgrind
mkdir -p "$VG"
start=$SECONDS
# Not run_prism, which puts $PRISM first: the same captures, valgrind in front.
valgrind --error-exitcode=1 --trace-children=yes --log-file="$VG/vg.%p.log" \
  "$PRISM" run examples/tiny-1m "${BUDGET[@]}" --out "$TMP/out" >"$TMP/vg.out" 2>"$TMP/vg.err"
echo $? >"$TMP/vg.rc"
echo "     (valgrind run: $((SECONDS - start)) s)"
expect_rc vg 0 "prism run examples/tiny-1m ${BUDGET[*]} under valgrind"
expect_json "the example is scored under valgrind" "$TMP/out/prism_run_manifest.v2.json" -- \
  'm.failure == nil and m.run.stopped_reason == "token_budget"' \
  'm.metrics.model_params == 1049216 and finite(m.score.prequential_bpb) and m.score.final_score > 0' \
  'finite(m.metrics.heldout_delta)'

logs=("$VG"/vg.*.log)
check "four processes ran under valgrind (parent, static gate, run, held-out): ${#logs[@]} logs" \
  test "${#logs[@]}" -eq 4
for log in "${logs[@]}"; do
  if grep -q 'ERROR SUMMARY: 0 errors from 0 contexts' "$log"; then
    ok "no memcheck errors in $(basename "$log")"
  else
    not_ok "memcheck errors (or no summary: the process was killed) in $(basename "$log")"
    grep -E '^==[0-9]+== ' "$log" | head -n 60 | sed 's/^/       /'
  fi
done
finish
