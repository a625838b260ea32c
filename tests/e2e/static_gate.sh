#!/usr/bin/env bash
# tests/e2e/static_gate.sh — the bytecode static gate (sandbox/static_gate.h) through the binary:
# `prism check` of a hostile bundle prints every hit at once, one line each with its rule id and
# file:line, and exits 3; `prism run` of it is rejected at the gate (exit 3) before any child, with
# the first hit in the manifest's failure block; clean bundles pass the gate.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

H=$TMP/hostile
mkdir -p "$H/lib"
cp tests/fixtures/bundles/e2e-common/architecture.lua "$H/"
cat >"$H/training.lua" <<'LUA'
local util = require("lib.util")
local prism = require("prism")

local function train(ctx)
  local t0 = os.clock()
  local function helper()
    return io.open("/etc/passwd")
  end
  os.execute("curl example.com")
  return util, prism, t0, helper
end

local sock = require("socket")
local code = loadstring("return 1")
return {train = train}
LUA
cat >"$H/lib/util.lua" <<'LUA'
local M = {}
function M.peek()
  return debug.getinfo(1)
end
M.C = require("ffi").C
return M
LUA

run_prism check check "$H"
expect_rc check 3 "prism check rejects a bundle with forbidden globals and requires"
expect_stderr check "^prism: prism:sandbox-no-debug: lib/util\.lua:3: .*debug" "debug in a nested function: lib/util.lua:3"
expect_stderr check "^prism: prism:sandbox-no-ffi: lib/util\.lua:5: .*ffi" "require('ffi'): lib/util.lua:5"
expect_stderr check "^prism: prism:sandbox-no-filesystem: training\.lua:7: .*io" "io in a nested function: training.lua:7"
expect_stderr check "^prism: prism:sandbox-no-process: training\.lua:9: .*os\.execute" "os.execute: training.lua:9"
expect_stderr check "^prism: prism:sandbox-no-network: training\.lua:13: .*socket" "require('socket'): training.lua:13"
expect_stderr check "^prism: prism:sandbox-no-dynamic-code: training\.lua:14: .*loadstring" "loadstring: training.lua:14"
check "all six hits at once, nothing else (os.clock, prism, lib.util allowed)" \
  test "$(grep -c '^prism: prism:' "$TMP/check.err")" -eq 6
check "hits sorted by file then line" \
  test "$(grep -o '^prism: prism:[a-z-]*: [^:]*:[0-9]*' "$TMP/check.err" | sed 's/.*: //' | tr '\n' ' ')" = \
  "lib/util.lua:3 lib/util.lua:5 training.lua:7 training.lua:9 training.lua:13 training.lua:14 "

run_prism run run "$H" --vocab-size 256 --seq-len 32 --out "$TMP/run-out"
expect_rc run 3 "prism run rejects it at the gate"
expect_stderr run "^prism: prism:sandbox-no-debug: lib/util\.lua:3: " "prism run names the first hit"
expect_json "manifest: the first hit as the failure, no score" "$TMP/run-out/prism_run_manifest.v2.json" -- \
  'm.failure.rule_id == "prism:sandbox-no-debug" and m.failure.file == "lib/util.lua" and m.failure.line == 3' \
  'm.score.final_score == null and len(m.metrics.online_loss) == 0'

# a forbidden module alone
F=$TMP/forbidden
mkdir -p "$F"
cp tests/fixtures/bundles/e2e-common/architecture.lua "$F/"
printf 'local lpeg = require "lpeg"\nreturn {train = function(ctx) end}\n' >"$F/training.lua"
run_prism forbidden check "$F"
expect_rc forbidden 3 "require of a module outside the stdlib and the bundle is rejected"
expect_stderr forbidden "^prism: prism:forbidden-module: training\.lua:1: .*lpeg" "prism:forbidden-module at training.lua:1"

# clean bundles pass the gate
run_prism clean check examples/tiny-1m
expect_rc clean 0 "examples/tiny-1m passes prism check"
check "no sandbox rule in its output" bash -c "! grep -q 'sandbox-no-\|forbidden-module' '$TMP/clean.err'"
run_prism learner check "$BUNDLES/e2e-learner"
expect_rc learner 0 "the e2e-learner fixture passes prism check"

finish
