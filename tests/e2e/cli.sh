#!/usr/bin/env bash
# tests/e2e/cli.sh — the `prism run` / `prism check` command lines through the real binary:
# help and usage errors (exit 2), `prism check` on the example (exit 0 with the parameter count),
# every gate violation printed with its rule id and file:line (exit 3), the static gate's bounds
# (time, return type, raising factory, the reference's parameter-cap pair), and an intake
# rejection under `prism run` that still leaves a manifest (exit 3).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

# ---- help and usage errors ----
run_prism help_run run --help
expect_rc help_run 0 "prism run --help"
check "run --help lists every option" grep -q -- "--artifacts-quota" "$TMP/help_run.out"
run_prism help_check check --help
expect_rc help_check 0 "prism check --help"
run_prism no_bundle run
expect_rc no_bundle 2 "run without a bundle is a usage error"
run_prism unknown run "$BUNDLES/e2e-learner" --bogus-flag
expect_rc unknown 2 "an unknown flag is a usage error"
expect_stderr unknown "unknown option '--bogus-flag'" "the unknown flag is named"
run_prism check_unknown check "$BUNDLES/e2e-learner" --time-budget 5
expect_rc check_unknown 2 "check rejects run-only options"
run_prism cuda run "$BUNDLES/e2e-learner" --device cuda
expect_rc cuda 2 "--device cuda without a CUDA backend"
expect_stderr cuda "no CUDA backend in this build" "the CUDA usage error says why"
run_prism nproc run "$BUNDLES/e2e-learner" --nproc 2
expect_rc nproc 2 "--nproc 2 before distributed training"
run_prism badnum run "$BUNDLES/e2e-learner" --seq-len twelve
expect_rc badnum 2 "a non-numeric value is a usage error"
run_prism badquota run "$BUNDLES/e2e-learner" --artifacts-quota 2TB
expect_rc badquota 2 "an unknown size suffix is a usage error"

# ---- prism check on the example ----
run_prism check_example check examples/tiny-1m
expect_rc check_example 0 "prism check examples/tiny-1m"
check "check prints the forced-seed parameter count 1,049,216" grep -q "1,049,216 parameters" "$TMP/check_example.out"
run_prism check_cap check examples/tiny-1m --max-params 1000000
expect_rc check_cap 3 "the example over a 1,000,000 cap is rejected"
expect_stderr check_cap "^prism: prism:param-cap: .*1,049,216.*1,000,000" "param-cap line with thousands separators"

# ---- intake warnings do not reject ----
w=$TMP/warned
mkdir -p "$w"
cp "$BUNDLES/e2e-learner/"*.lua "$w/"
printf 'name: "warned"\nfavourite_colour: blue\n' >"$w/prism.yaml"
run_prism warned check "$w"
expect_rc warned 0 "an unknown prism.yaml key is only a warning"
expect_stderr warned "^prism: warning: prism.yaml:2: unknown key 'favourite_colour'" "the warning names the key and line"

# ---- every violation, with rule id and file:line ----
b=$TMP/broken
mkdir -p "$b"
cp "$BUNDLES/e2e-learner/architecture.lua" "$b/"
printf 'local M = {}\nfunction M.train(ctx)\n  local x = = 1\nend\nreturn M\n' >"$b/training.lua"
printf -- '-- a helper nobody requires\nlocal U = {}\nfunction U.f( return 1 end\nreturn U\n' >"$b/util.lua"
run_prism check_broken check "$b"
expect_rc check_broken 3 "a bundle with two syntax errors is rejected"
expect_stderr check_broken "^prism: prism:syntax: training.lua:3: " "syntax error in training.lua at line 3"
expect_stderr check_broken "^prism: prism:syntax: util.lua:3: " "syntax error in an unused helper, util.lua line 3"
run_prism check_broken_json check "$b" --json
expect_json "check --json lists both violations" "$TMP/check_broken_json.out" -- \
  'm.status == "rejected"' 'm.exit_code == 3' 'len(m.violations) == 2' \
  'm.violations[1].rule_id == "prism:syntax"' 'm.model_params == null'

# ---- the static gate ----
gate_bundle() { # NAME BUILD_MODEL_BODY
  mkdir -p "$TMP/$1"
  printf 'local nn = require("prism.nn")\nlocal M = {}\nfunction M.build_model(ctx)\n%b\nend\nreturn M\n' "$2" >"$TMP/$1/architecture.lua"
  cp "$BUNDLES/e2e-learner/training.lua" "$BUNDLES/e2e-learner/honest.lua" "$TMP/$1/"
}
gate_bundle ret42 '  return 42'
run_prism ret42 check "$TMP/ret42"
expect_rc ret42 3 "build_model returning a number"
expect_stderr ret42 "^prism: prism:build-model-return-type: " "rule prism:build-model-return-type"
gate_bundle raises '  error("bad config")'
run_prism raises check "$TMP/raises"
expect_rc raises 3 "build_model raising"
expect_stderr raises "^prism: prism:build-model-instantiation: .*bad config" "rule prism:build-model-instantiation with the message"
gate_bundle spins '  local n = 0\n  while true do n = n + 1 end'
start=$SECONDS
run_prism spins check "$TMP/spins" --static-timeout 2
expect_rc spins 3 "build_model that never returns"
expect_stderr spins "^prism: prism:build-model-resource: " "rule prism:build-model-resource"
check "the static bound stops it within 15 s" test $((SECONDS - start)) -lt 15
gate_bundle emb3000 '  return nn.Embedding(50304, 3000)'
run_prism emb3000 check "$TMP/emb3000"
expect_rc emb3000 3 "Embedding(50304, 3000) over the default cap"
expect_stderr emb3000 "^prism: prism:param-cap: .*150,912,000" "150,912,000 parameters named"
gate_bundle emb2980 '  return nn.Embedding(50304, 2980)'
run_prism emb2980 check "$TMP/emb2980"
expect_rc emb2980 0 "Embedding(50304, 2980) under the default cap"
check "149,905,920 parameters counted" grep -q "149,905,920" "$TMP/emb2980.out"

# ---- intake rejection under prism run: exit 3 and a manifest ----
r=$TMP/reject
mkdir -p "$r"
cp "$BUNDLES/e2e-learner/"*.lua "$r/"
echo "not allowed" >"$r/payload.exe"
run_prism reject run "$r" --out "$TMP/reject-out" --data "$TMP/nodata"
expect_rc reject 3 "prism run rejects at intake"
expect_stderr reject "^prism: prism:bundle-suffix: " "rule prism:bundle-suffix"
expect_json "the rejection leaves a manifest" "$TMP/reject-out/prism_run_manifest.v2.json" -- \
  'm.schema_version == "prism_run_manifest.v2"' 'm.failure.rule_id == "prism:bundle-suffix"' \
  'm.score.final_score == null' 'len(m.metrics.online_loss) == 0'

finish
