#!/usr/bin/env bash
# tests/e2e/run_failures.sh — the ported acceptance cases of a failing or cheating run, through the
# binary: missing/empty data (prism:data-missing, no fallback, train never runs), a train that
# never iterates (prism:zero-forward with a manifest), a loop that hangs outside the instrument
# (the watchdog: prism:budget-exceeded with a manifest), a disk fill past the artifacts quota
# (prism:artifacts-quota), an inline over-cap model (prism:param-cap at run time), a forward
# returning Inf (worst-case loss, flagged, finite bpb worse than a learner's), a smuggled step-0
# bias (multiplier 0), and a miner's own manifest and printed metrics (ignored).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

make_data "$TMP/data" 12000 2000
ARGS=(--vocab-size 256 --seq-len 32 --time-budget 300 --grace 60)
M=prism_run_manifest.v2.json

# ---- missing and empty data ----
mkdir -p "$TMP/empty" "$TMP/zero-byte"
: >"$TMP/zero-byte/train-00000.jsonl"
for case in missing empty zero-byte; do
  run_prism "data-$case" run "$BUNDLES/e2e-learner" "${ARGS[@]}" --data "$TMP/$case" --out "$TMP/data-$case-out"
  expect_rc "data-$case" 1 "$case train data fails the run"
  expect_stderr "data-$case" "^prism: prism:data-missing: .*no random-token fallback" "$case data: prism:data-missing, no fallback"
  expect_json "$case data: a manifest with the failure and no stream" "$TMP/data-$case-out/$M" -- \
    'm.failure.rule_id == "prism:data-missing" and m.score.final_score == null' \
    'len(m.metrics.online_loss) == 0 and m.data.random_token_fallback == false' \
    'm.artifacts.trained_state == null'
  check "$case data: no trained state written" test ! -e "$TMP/data-$case-out/trained_state.safetensors"
done

# ---- zero-forward ----
run_prism zero run "$BUNDLES/e2e-zero-forward" "${ARGS[@]}" --data "$TMP/data" --out "$TMP/zero"
expect_rc zero 1 "a train that never iterates fails"
expect_stderr zero "^prism: prism:zero-forward: " "rule prism:zero-forward"
expect_json "zero-forward manifest (reference fields)" "$TMP/zero/$M" -- \
  'm.failure.rule_id == "prism:zero-forward" and m.score.final_score == null' \
  'len(m.metrics.online_loss) == 0 and m.metrics.covered_bytes == 0 and m.data.covered_bytes == 0' \
  'm.metrics.step0_loss == null and m.anti_cheat.no_learning == true and m.anti_cheat.zero_forward == true' \
  'm.artifacts.trained_state == null'
run_prism zero_score score "$TMP/zero/$M"
expect_rc zero_score 0 "prism score verifies the failed run's null score block"

# ---- the watchdog: a loop hanging outside the instrument ----
start=$SECONDS
run_prism hang run "$BUNDLES/e2e-hang" --vocab-size 256 --seq-len 32 --data "$TMP/data" --out "$TMP/hang" \
  --time-budget 1 --grace 1
expect_rc hang 1 "a hanging train is killed"
expect_stderr hang "^prism: prism:budget-exceeded: " "rule prism:budget-exceeded"
check "killed at about time budget + grace (2 s), well under 30 s" test $((SECONDS - start)) -lt 30
expect_json "watchdog manifest" "$TMP/hang/$M" -- \
  'm.failure.rule_id == "prism:budget-exceeded" and m.score.final_score == null' \
  'm.run.stopped_reason == "wall_clock" and m.anti_cheat.budget_exceeded == true' \
  'len(m.metrics.online_loss) == 1'

# ---- an inline over-cap model in training.lua ----
run_prism overcap run "$BUNDLES/e2e-overcap-inline" "${ARGS[@]}" --data "$TMP/data" --out "$TMP/overcap" --max-params 100000
expect_rc overcap 1 "an inline over-cap model fails at run time"
expect_stderr overcap "^prism: prism:param-cap: .*262,400" "rule prism:param-cap naming 262,400 parameters"
expect_json "param-cap manifest" "$TMP/overcap/$M" -- \
  'm.failure.rule_id == "prism:param-cap" and m.score.final_score == null'

# ---- filling the disk past the artifacts quota ----
run_prism fill run "$BUNDLES/e2e-disk-fill" "${ARGS[@]}" --data "$TMP/data" --out "$TMP/fill" --artifacts-quota 512KiB
expect_rc fill 1 "writing past the artifacts quota fails the run"
expect_stderr fill "^prism: prism:artifacts-quota: " "rule prism:artifacts-quota"
expect_json "quota manifest" "$TMP/fill/$M" -- \
  'm.failure.rule_id == "prism:artifacts-quota" and m.score.final_score == null' \
  'm.run.stopped_reason == "artifacts_quota" and m.anti_cheat.artifacts_quota_exceeded == true'
check "the artifacts folder stayed small (under 16 MiB)" test "$(du -sk "$TMP/fill" | cut -f1)" -lt 16384

# ---- a learner, to compare with ----
run_prism learner run "$BUNDLES/e2e-learner" "${ARGS[@]}" --data "$TMP/data" --out "$TMP/learner"
expect_rc learner 0 "the reference learner"

# ---- a forward returning Inf ----
run_prism inf run "$BUNDLES/e2e-inf-forward" "${ARGS[@]}" --data "$TMP/data" --out "$TMP/inf"
expect_rc inf 0 "an Inf forward is still scored"
expect_json "Inf forward: worst-case loss, flagged, finite bpb worse than the learner's" "$TMP/inf/$M" "$TMP/learner/$M" -- \
  'all(m.metrics.online_loss, function(x) return x == 2 * math.log(256) end)' \
  'm.anti_cheat.nan_inf_detected == true and m.anti_cheat.nan_inf_batches == m.metrics.nan_inf_batches' \
  'm.metrics.nan_inf_batches == len(m.metrics.online_loss) and m.metrics.nan_inf_batches >= 1' \
  'finite(m.score.prequential_bpb) and m.score.prequential_bpb > m2.score.prequential_bpb' \
  'm.score.flags[1] == "nan_inf_detected"'

# ---- a smuggled step-0 bias on a stream of "a"s ----
mkdir -p "$TMP/aaaa"
"$PRISM" exec "$LIB/mkdata.lua" "$TMP/aaaa/train-00000.jsonl" "lit:a" 0 2000 400 a
run_prism bias run "$BUNDLES/e2e-step0-bias" "${ARGS[@]}" --data "$TMP/aaaa" --out "$TMP/bias"
expect_rc bias 0 "the smuggled-bias model is scored"
expect_json "step-0 anomaly: multiplier 0, final score 0" "$TMP/bias/$M" -- \
  'm.metrics.step0_loss < 0.5 * math.log(256) and m.anti_cheat.step0_anomaly == true' \
  'm.score.anti_cheat_multiplier == 0 and m.score.final_score == 0 and m.score.anomaly == true' \
  'm.score.flags[1] == "step0_anomaly"'

# ---- a miner's own manifest and printed metrics are ignored ----
run_prism miner run "$BUNDLES/e2e-miner-manifest" "${ARGS[@]}" --data "$TMP/data" --out "$TMP/miner"
expect_rc miner 0 "the miner-manifest learner is scored"
expect_json "the miner's manifest and prints change nothing" "$TMP/miner/$M" "$TMP/learner/$M" -- \
  'm.miner_reported_ignored == true and m.submission_id == "e2e-miner-manifest"' \
  'm.q_arch == nil and m.bpb == nil and m.metrics.bpb == nil' \
  'same(m.metrics.online_loss, m2.metrics.online_loss)' \
  'm.score.final_score == m2.score.final_score and m.score.final_score ~= 0.999'
check "only the runtime's manifest is left in OUT" test "$(ls "$TMP/miner" | grep -c '^prism_run_manifest')" -eq 1

finish
