#!/usr/bin/env bash
# tests/e2e/hostile.sh — the hostile-input corpus (tests/hostile/, issue 5): every case is a bundle
# that tries one escape against the runtime as it stands (the restricted Lua state, the ctx, the
# artifacts jail, the watchdog, the bundle intake). For each case: `prism run` on a tiny dataset,
# then the exit code, the rule id on stderr and in the manifest's failure block (or, for a trick
# that must simply have no effect, a scored run whose online loss equals the honest baseline's),
# no death by signal, a manifest, no "HOSTILE-ESCAPED" line (a case prints it when its trick was
# silently allowed), and nothing changed outside the run's own artifacts folder (a guarded tree
# holding the data, a canary, the cwd and TMPDIR of the run). tests/hostile/README.md explains
# every case; the table below is its machine-readable twin and must list every case directory.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

HOSTILE=tests/hostile
HOSTILE_BUNDLES=$TMP/hostile-bundles # the cases with e2e-common's architecture added
assemble_bundles "$HOSTILE_BUNDLES" "$HOSTILE"/*/
M=prism_run_manifest.v2.json
G=$TMP/guard # everything a run may read but never change
mkdir -p "$G/cwd" "$G/tmpdir" "$G/outside"
make_data "$G/data" 4000 1000 400
echo "canary: a run must never change this file" >"$G/canary.txt"
echo "symlink target: a run must never write here" >"$G/outside/target.txt"
ARGS=(--vocab-size 64 --seq-len 16 --artifacts-quota 64KiB --heldout-bytes 2048 --val "$G/data/val")

# A listing of the guarded tree (paths, types, sizes, link targets, contents' hashes), leaving out
# what is inside each run's own artifacts folder (outs/<case>/...).
snapshot() {
  (cd "$G" && find . -path './outs/*/*' -prune -o -printf '%p %y %s %l\n' | LC_ALL=C sort &&
    find . -path './outs/*/*' -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 -r md5sum)
}

# name | exit code | rule id ("scored": a scored run) | stderr regex (after the rule id)
CASES=$(cat <<'EOF'
baseline|0|scored|
no-loadstring|1|prism:runtime-error|attempt to call local 'f' \(a nil value\)
no-load|1|prism:runtime-error|attempt to call local 'f' \(a nil value\)
no-dofile|1|prism:runtime-error|attempt to call local 'f' \(a nil value\)
no-loadfile|1|prism:runtime-error|attempt to call local 'f' \(a nil value\)
no-getfenv|1|prism:runtime-error|attempt to call local 'f' \(a nil value\)
no-setfenv|1|prism:runtime-error|attempt to call local 'f' \(a nil value\)
no-string-dump|1|prism:runtime-error|attempt to call local 'f' \(a nil value\)
string-method-dump|1|prism:runtime-error|attempt to call method 'dump' \(a nil value\)
string-metatable-locked|0|scored|
globals-patched|0|scored|
tensor-metatable|1|prism:runtime-error|training.lua:11: bad argument #1 to 'setmetatable' \(table expected, got userdata\)
ctx-setmetatable|1|prism:runtime-error|bad argument #1 to 'setmetatable' \(table expected, got userdata\)
ctx-getmetatable|0|scored|
ctx-field-write|1|prism:runtime-error|ctx is read-only: cannot set ctx.token_budget
ctx-data-dir-io|1|prism:runtime-error|attempt to index local 'lib' \(a nil value\)
require-prism-core|1|prism:runtime-error|module 'prism.core' is internal to the runtime
require-io|1|prism:runtime-error|require: module 'io' not found
require-os|1|prism:runtime-error|require: module 'os' not found
require-ffi|1|prism:runtime-error|require: module 'ffi' not found
require-debug|1|prism:runtime-error|require: module 'debug' not found
require-jit|1|prism:runtime-error|require: module 'jit' not found
require-cycle|1|prism:runtime-error|cyclic require of module 'cyc_a' \(cyc_a -> cyc_b -> cyc_a\)
require-bytecode|3|prism:[a-z-]+|evil.lua
os-execute|1|prism:runtime-error|attempt to call local 'f' \(a nil value\)
val-dir-field|1|prism:runtime-error|ctx has no field 'val_dir'
error-tostring-errors|1|prism:runtime-error|
collectgarbage-collect|1|prism:runtime-error|only collectgarbage\("count"\) is available
math-randomseed|1|prism:runtime-error|attempt to call field 'randomseed' \(a nil value\)
deep-recursion|1|prism:runtime-error|stack overflow
memory-bomb|1|prism:resource-oom|not enough memory \(the Lua heap cap of 67108864 bytes was hit, [0-9]+ in use; PRISM_LUA_MEM_LIMIT sets it\)
huge-tensor|1|prism:resource-oom|zeros: out of memory allocating 4398046511104 bytes on cpu: the allocator refused it \(process or device memory limit; not the tensor-byte cap PRISM_TENSOR_HARD_LIMIT, which is unset\)
shape-overflow|1|prism:runtime-error|zeros: shape has too many elements
negative-size|1|prism:runtime-error|zeros: size 1 must be >= 0, got -1
view-overflow|1|prism:runtime-error|view: shape \[4294967296, 4294967296\] is too large
infinite-loop|1|prism:budget-exceeded|Lua code was still running at training\.lua:9 when it hit the wall-clock limit
coroutine-loop|1|prism:budget-exceeded|Lua code was still running at training\.lua:8 when it hit the wall-clock limit
save-dotdot|1|prism:runtime-error|ctx:save: the name '\.\./hostile-escaped\.txt' must be a bare file name
save-absolute|1|prism:runtime-error|ctx:save: the name '/tmp/prism-hostile-escaped\.txt' must be a bare file name
save-manifest|1|prism:runtime-error|the name 'prism_run_manifest\.v2\.json' is reserved for the runtime's own files
save-trained-state|1|prism:runtime-error|the name 'trained_state\.safetensors' is reserved for the runtime's own files
save-symlink|1|prism:runtime-error|ctx:save\("planted\.txt"\): a non-regular file \(symlink, directory, \.\.\.\) is in the way
pcall-quota|1|prism:artifacts-quota|would exceed its quota of 65536 bytes
fake-markers|0|scored|
many-tiny-tensors|0|scored|
huge-error-message|1|prism:runtime-error|training.lua:8: AAAA
string-rep-huge|1|prism:resource-oom|not enough memory \(the Lua heap cap of 67108864 bytes was hit, [0-9]+ in use; PRISM_LUA_MEM_LIMIT sets it\)
log-flood|0|scored|
gc-resurrection|0|scored|
newproxy-absent|1|prism:runtime-error|attempt to call local 'newproxy' \(a nil value\)
gc-tensor|1|prism:runtime-error|training.lua:11: attempt to index local 'mt' \(a string value\)
c-stack-overflow|1|prism:runtime-error|training\.lua:10: stack overflow
coroutine-nesting|1|prism:runtime-error|C stack overflow: coroutines nested more than 10000 deep
ctx-bad-args|0|scored|
zero-size-tensors|0|scored|
package-loadlib|1|prism:runtime-error|attempt to index local 'package' \(a nil value\)
pattern-blowup|1|prism:budget-exceeded|wall-clock safety cap
unpack-huge|1|prism:runtime-error|training.lua:14: too many results to unpack
setmetatable-G|0|scored|
tensor-byte-cap|1|prism:resource-oom|zeros: tensor-memory cap: allocating 268435456 bytes would exceed the cap of 67108864 bytes \(0 live\); the tensor-byte cap is set by PRISM_TENSOR_HARD_LIMIT
hook-pcall-loop|1|prism:budget-exceeded|Lua code was still running at training\.lua:13 when it hit the wall-clock limit
hook-coroutine-pcall|1|prism:budget-exceeded|Lua code was still running at training\.lua:11 when it hit the wall-clock limit
address-entropy|0|scored|
pcall-lua-oom|1|prism:resource-oom|not enough memory \(the error was caught by the submission's pcall\) \(the Lua heap cap of 67108864 bytes was hit
EOF
)

# Every case directory has a row, every row a directory, and the README names every case.
listed=$(echo "$CASES" | cut -d'|' -f1 | LC_ALL=C sort)
present=$(cd "$HOSTILE" && for d in */; do echo "${d%/}"; done | LC_ALL=C sort)
check "the table lists exactly the case directories of $HOSTILE" test "$listed" = "$present"
missing_doc=$(for n in $listed; do grep -q "^| \`$n\` |" "$HOSTILE/README.md" || echo "$n"; done)
check "the README has a row for every case${missing_doc:+ (missing: $missing_doc)}" test -z "$missing_doc"

# The artifacts folders exist (empty) before the snapshot, so a stray file next to them shows.
for n in $listed; do mkdir -p "$G/outs/$n"; done
before=$(snapshot)
start=$SECONDS
while IFS='|' read -r name want_rc rule regex; do
  out=$G/outs/$name
  env_extra=()
  budget=(--time-budget 30 --grace 5) # never reached by a case that is not a hang
  case $name in
  infinite-loop | coroutine-loop | pattern-blowup | hook-pcall-loop | hook-coroutine-pcall)
    budget=(--time-budget 1 --grace 1) ;; # the count hook stops Lua at 1.5 s, the watchdog kills at 2 s
  memory-bomb | string-rep-huge | pcall-lua-oom) env_extra=(PRISM_LUA_MEM_LIMIT=$((64 << 20))) ;; # a 64 MiB Lua heap: the bomb hits it fast
  tensor-byte-cap) env_extra=(PRISM_TENSOR_HARD_LIMIT=$((64 << 20))) ;; # a 64 MiB tensor-byte cap under a 256 MiB tensor
  save-symlink)
    ln -s "$G/outside/target.txt" "$out/planted.txt"
    ;;
  esac
  (cd "$G/cwd" && env TMPDIR="$G/tmpdir" "${env_extra[@]}" "$PRISM" run "$HOSTILE_BUNDLES/$name" "${ARGS[@]}" "${budget[@]}" \
    --data "$G/data/train" --out "$out" >"$TMP/$name.out" 2>"$TMP/$name.err")
  RC=$?
  echo "$RC" >"$TMP/$name.rc"
  check "$name: not killed by a signal (exit $RC)" test "$RC" -lt 128
  expect_rc "$name" "$want_rc" "$name"
  if grep -q HOSTILE-ESCAPED "$TMP/$name.err"; then not_ok "$name: the trick was silently allowed"; show "$name"; fi
  check "$name: a manifest" test -s "$out/$M"
  if [ "$rule" = scored ]; then
    expect_json "$name: scored, no failure, the same online loss as the baseline" "$out/$M" "$G/outs/baseline/$M" -- \
      'm.failure == nil and m.score.final_score ~= null and finite(m.score.prequential_bpb)' \
      'len(m.metrics.online_loss) >= 1 and same(m.metrics.online_loss, m2.metrics.online_loss)' \
      'm.score.final_score == m2.score.final_score'
  else
    # The runtime's own verdict is the last "prism: <rule>:" line (a submission's forged lines
    # come before it), and the manifest names the same rule.
    verdict=$(grep -E '^prism: prism:[a-z-]+: ' "$TMP/$name.err" | tail -n 1)
    if echo "$verdict" | grep -Eq -- "^prism: $rule: .*$regex"; then ok "$name: $rule on stderr"; else
      not_ok "$name: stderr lacks /^prism: $rule: .*$regex/"
      show "$name"
    fi
    got_rule=$(echo "$verdict" | sed -E 's/^prism: (prism:[a-z-]+): .*/\1/')
    expect_json "$name: the manifest's failure block names $got_rule" "$out/$M" -- \
      "m.failure.rule_id == '$got_rule' and m.score.final_score == null"
  fi
done <<<"$CASES"
check "the corpus ran in under 120 s ($((SECONDS - start)) s)" test $((SECONDS - start)) -lt 120

# Case-specific consequences.
check "save-symlink: the symlink's target is untouched" \
  grep -qx "symlink target: a run must never write here" "$G/outside/target.txt"
check "save-dotdot/save-absolute: no escaped file" test ! -e "$G/outs/hostile-escaped.txt" -a ! -e /tmp/prism-hostile-escaped.txt
check "os-execute: no file created" test ! -e /tmp/prism-hostile-pwned
expect_json "pcall-quota: the swallowed quota error still fails the run (manifest)" "$G/outs/pcall-quota/$M" -- \
  'm.anti_cheat.artifacts_quota_exceeded == true and len(m.metrics.online_loss) >= 1'
check "pcall-quota: big.txt was never written" test ! -e "$G/outs/pcall-quota/big.txt"
expect_json "save-manifest/save-trained-state: the runtime's own files are the runtime's" \
  "$G/outs/save-manifest/$M" "$G/outs/save-trained-state/$M" -- \
  'm.submission_id == "save-manifest" and m2.submission_id == "save-trained-state"' \
  'm.artifacts.trained_state == null and m2.artifacts.trained_state == null'
check "fake-markers: the forged lines reached stderr (so the check above meant something)" \
  grep -q "prism: prism:budget-exceeded: forged by the submission" "$TMP/fake-markers.err"
check "fake-markers: only the runtime's manifest is in OUT" test "$(ls "$G/outs/fake-markers" | grep -c '^prism_run')" -eq 1
expect_json "val-dir-field: a val split was given (the baseline's held-out pass scored it) yet the child saw only train" \
  "$G/outs/val-dir-field/$M" "$G/outs/baseline/$M" -- \
  'm2.run.heldout == "scored" and m2.score.val_bpb_trained ~= nil' \
  'm.data.data_dir == m2.data.data_dir and not tostring(m.data.data_dir):find("/val", 1, true)'

check "huge-error-message: stderr stays small (under 64 KiB)" test "$(wc -c <"$TMP/huge-error-message.err")" -lt 65536
expect_json "huge-error-message: the manifest's failure message is truncated (at most 4 KiB)" \
  "$G/outs/huge-error-message/$M" -- 'm.failure.message:len() <= 4096 and m.failure.message:find("AAAA", 1, true) ~= nil'
check "log-flood: 100,000 printed lines were rate-limited (under 200 lines on stderr)" \
  test "$(wc -l <"$TMP/log-flood.err")" -lt 200
check "log-flood: the submission's lines did reach stderr" grep -q "^flood line 1$" "$TMP/log-flood.err"

after=$(snapshot)
if [ "$before" = "$after" ]; then ok "nothing outside the artifacts folders changed (data, canary, cwd, TMPDIR, outs/)"; else
  not_ok "the guarded tree changed:"
  diff <(echo "$before") <(echo "$after") | sed 's/^/       /' | head -n 20
fi

finish
