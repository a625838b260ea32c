#!/usr/bin/env bash
# score.sh — `prism score` and `prism leaderboard` through the real binary, on hand-written
# manifests whose score blocks were computed by hand (values checked with Python's float repr:
# 100·ln 2 = 69.31471805599453 nats over 200 bytes is 100.0 bits, bpb 0.5, final 0.6666666666666666;
# 138.62943611198907 nats -> 200.0 bits, bpb 1.0, final 0.5). Covers: a verified manifest, tampered
# blocks and streams detected (exit 1, differing keys named), invalid input (exit 3), usage (exit 2),
# a failed run's null block, and leaderboard ordering, dedupe, exclusion and weights.
# Usage: score.sh PRISM_BINARY   (or env PRISM)
set -u
PRISM=${1:-${PRISM:-}}
if [ -z "$PRISM" ] || [ ! -x "$PRISM" ]; then
  echo "usage: $0 PRISM_BINARY" >&2
  exit 2
fi
work=$(mktemp -d /tmp/prism_e2e_score_XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
check() { # check NAME CONDITION_EXIT_STATUS [DETAIL]
  if [ "$2" -eq 0 ]; then
    printf '%-66s ok\n' "$1"
    passed=$((passed + 1))
  else
    printf '%-66s FAIL  %s\n' "$1" "${3:-}"
    failed=$((failed + 1))
  fi
}

# manifest SID MINER ACCEPTED_AT COVERED NATS BITS BPB FINAL [FAILURE_JSON]
manifest() {
  local sid=$1 miner=$2 at=$3 cov=$4 nats=$5 bits=$6 bpb=$7 final=$8
  cat <<EOF
{
  "accepted_at": "$at",
  "anti_cheat": {"nan_inf_detected": false, "step0_anomaly": false},
  "metrics": {
    "covered_bytes": $cov,
    "online_loss": [5.5, 4.25, 3.0],
    "predicted_tokens": 180,
    "sum_neg_log_likelihood_nats": $nats,
    "train_bpb_basis": "bytes"
  },
  "miner": "$miner",
  "schema_version": "prism_run_manifest.v2",
  "score": {
    "anomaly": false,
    "anti_cheat_multiplier": 1.0,
    "bits_per_byte": $bpb,
    "compute_normalization": "tokens_bytes",
    "covered_bytes": $cov,
    "cumulative_codelength_bits": $bits,
    "final_score": $final,
    "flags": [],
    "lower_is_better": true,
    "memorization_flag": false,
    "memorization_penalty": 1.0,
    "miner_reported_ignored": true,
    "prequential_bpb": $bpb,
    "primary_metric": "prequential_bpb",
    "schema": "prism_score.v2",
    "sum_neg_log2_likelihood_bits": $bits,
    "tie_breaker": "heldout_delta",
    "tokens_consumed": 180,
    "total_bytes_covered": $cov,
    "wall_clock_term": false
  },
  "submission_id": "$sid"
}
EOF
}
half() { manifest "$1" "$2" "$3" 200 69.31471805599453 100.0 0.5 0.6666666666666666; }
one() { manifest "$1" "$2" "$3" 200 138.62943611198907 200.0 1.0 0.5; }

# ---- prism score ----
half s-half alice 2025-01-01T00:00:00Z >"$work/good.json"
out=$("$PRISM" score "$work/good.json" 2>&1)
rc=$?
check "hand-written manifest verifies (exit 0)" $rc "$out"
echo "$out" | grep -q "final_score     0.6666666666666666$"
check "printed final score is the repr 0.6666666666666666" $? "$out"
echo "$out" | grep -q "prequential_bpb 0.5$"
check "printed bpb 0.5" $? "$out"
out=$("$PRISM" score --json "$work/good.json" 2>&1)
echo "$out" | grep -q '"matches": true' && echo "$out" | grep -q '"differing_keys": \[\]' &&
  echo "$out" | grep -q '"final_score": 0.6666666666666666,$'
check "--json: matches true, no differing keys, final score" $? "$out"

sed 's/"final_score": 0.6666666666666666/"final_score": 0.7/' "$work/good.json" >"$work/tampered_final.json"
out=$("$PRISM" score "$work/tampered_final.json" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "MISMATCH.*final_score" && echo "$out" | grep -q "prism:score-mismatch"
check "tampered final_score -> exit 1, key named" $? "rc=$rc $out"

sed 's/"sum_neg_log_likelihood_nats": 69.31471805599453/"sum_neg_log_likelihood_nats": 60.0/' "$work/good.json" \
  >"$work/tampered_stream.json"
out=$("$PRISM" score --json "$work/tampered_stream.json" 2>/dev/null)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q '"matches": false' && echo "$out" | grep -q '"prequential_bpb",' &&
  echo "$out" | grep -q '"final_score",' && echo "$out" | grep -q '"sum_neg_log2_likelihood_bits"'
check "doctored stream -> exit 1, bpb/final/bits listed" $? "rc=$rc $out"

sed 's/"step0_anomaly": false/"step0_anomaly": true/' "$work/good.json" >"$work/tampered_flag.json"
out=$("$PRISM" score "$work/tampered_flag.json" 2>&1)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "anomaly" && echo "$out" | grep -q "final_score     0.0$"
check "step0 anomaly flag set afterwards -> exit 1, recomputed final 0.0" $? "rc=$rc $out"

sed 's/"bits_per_byte": 0.5,/"bits_per_byte": 0.5, "extra": 1,/' "$work/good.json" >"$work/extra_key.json"
out=$("$PRISM" score "$work/extra_key.json" 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "MISMATCH.* extra"
check "an extra key in the stored block -> exit 1" $? "$out"

printf '{"schema_version": "prism_run_manifest.v2", "metrics": ' >"$work/truncated.json"
"$PRISM" score "$work/truncated.json" >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 3 ] && grep -q "prism:manifest-invalid" "$work/err"
check "truncated JSON -> exit 3, prism:manifest-invalid" $? "rc=$rc $(cat "$work/err")"
sed 's/prism_run_manifest.v2/prism_run_manifest.v1/' "$work/good.json" >"$work/v1.json"
"$PRISM" score "$work/v1.json" >/dev/null 2>&1
check "wrong schema_version -> exit 3" $([ $? -eq 3 ]; echo $?)
printf '{"a": 1, "a": 2}' >"$work/dup.json"
"$PRISM" score "$work/dup.json" >/dev/null 2>&1
check "duplicate keys -> exit 3" $([ $? -eq 3 ]; echo $?)
"$PRISM" score "$work/missing.json" >/dev/null 2>&1
check "missing file -> exit 3" $([ $? -eq 3 ]; echo $?)
"$PRISM" score "$work" >/dev/null 2>&1
check "a directory -> exit 3" $([ $? -eq 3 ]; echo $?)
"$PRISM" score >/dev/null 2>&1
check "no argument -> exit 2" $([ $? -eq 2 ]; echo $?)
"$PRISM" score --frobnicate "$work/good.json" >/dev/null 2>&1
check "unknown option -> exit 2" $([ $? -eq 2 ]; echo $?)
"$PRISM" score "$work/good.json" "$work/good.json" >/dev/null 2>&1
check "two manifests -> exit 2" $([ $? -eq 2 ]; echo $?)
"$PRISM" score --help | grep -q "usage: prism score"
check "--help prints usage, exit 0" $?

# a failed run: failure block and the runner's block with final_score null
cat >"$work/failed.json" <<'EOF'
{
  "anti_cheat": {"step0_anomaly": false},
  "failure": {"file": null, "line": null, "message": "zero-batch / no-forward run", "rule_id": "prism:zero-forward"},
  "metrics": {"covered_bytes": 0, "online_loss": [], "predicted_tokens": 0, "sum_neg_log_likelihood_nats": 0.0,
              "train_bpb_basis": "bytes"},
  "schema_version": "prism_run_manifest.v2",
  "score": {"anomaly": false, "anti_cheat_multiplier": 1.0, "bits_per_byte": null, "compute_normalization": "tokens_bytes",
            "covered_bytes": 0, "cumulative_codelength_bits": 0.0, "final_score": null, "lower_is_better": true,
            "miner_reported_ignored": true, "prequential_bpb": null, "primary_metric": "prequential_bpb",
            "schema": "prism_score.v2", "sum_neg_log2_likelihood_bits": 0.0, "tokens_consumed": 0,
            "total_bytes_covered": 0, "train_bpb_basis": "bytes", "wall_clock_term": false},
  "submission_id": "s-failed",
  "miner": "carol",
  "accepted_at": "2024-12-01T00:00:00Z"
}
EOF
out=$("$PRISM" score "$work/failed.json" 2>&1)
rc=$?
[ $rc -eq 0 ] && echo "$out" | grep -q "not scored.*prism:zero-forward" && echo "$out" | grep -q "final_score     null"
check "failed run: null block verifies, reason printed" $? "rc=$rc $out"

# ---- prism leaderboard ----
lb="$work/lb"
mkdir -p "$lb/run-bob" "$lb/run-dave"
half a-late alice 2025-03-01T00:00:00Z >"$lb/a-late.json"      # alice, bpb 0.5, later
one a-worse alice 2025-01-01T00:00:00Z >"$lb/a-worse.json"     # alice, bpb 1.0
half a-early alice 2025-02-01T00:00:00Z >"$lb/a-early.json"    # alice's best: bpb 0.5, earliest
half b-1 bob 2025-02-15T00:00:00Z >"$lb/run-bob/prism_run_manifest.v2.json" # ties alice, later
cp "$work/failed.json" "$lb/carol.json"                         # failed: excluded
cp "$work/tampered_final.json" "$lb/mallory.json"               # stored 0.7 does not verify: excluded
one d-1 dave 2025-01-10T00:00:00Z >"$lb/run-dave/prism_run_manifest.v2.json"
printf 'not json' >"$lb/junk.json"
out=$("$PRISM" leaderboard "$lb" 2>&1)
rc=$?
ranked=$(echo "$out" | awk '$1 ~ /^[0-9]+$/ {print $1":"$2":"$3}' | tr '\n' ' ')
[ $rc -eq 0 ] && [ "$ranked" = "1:alice:a-early 2:bob:b-1 3:dave:d-1 " ]
check "ranking: best per miner, tie -> earlier accepted_at, lower bpb after" $? "rc=$rc [$ranked] $out"
echo "$out" | grep -q "excluded: .*carol.json: not scored prism:zero-forward" &&
  echo "$out" | grep -q "excluded: .*mallory.json: stored score block does not match" &&
  echo "$out" | grep -q "excluded: .*junk.json" && echo "$out" | grep -q "superseded: .*a-late.json" &&
  echo "$out" | grep -q "superseded: .*a-worse.json"
check "failed, tampered and invalid manifests excluded; older entries superseded" $? "$out"

json=$("$PRISM" leaderboard --json "$lb" 2>&1)
# weights: 0.6666666666666666 / (2·0.6666666666666666 + 0.5) and 0.5 / (...), as Python prints them
echo "$json" | grep -q '"alice": 0.36363636363636365,$' && echo "$json" | grep -q '"bob": 0.36363636363636365,$' &&
  echo "$json" | grep -q '"dave": 0.27272727272727276$'
check "--json weights = best score / sum (repr)" $? "$json"
"$PRISM" leaderboard "$lb/run-dave/prism_run_manifest.v2.json" "$lb/a-early.json" "$lb/run-bob/prism_run_manifest.v2.json" \
  --json >"$work/order1.json" 2>&1
"$PRISM" leaderboard "$lb/run-bob/prism_run_manifest.v2.json" "$lb/a-early.json" "$lb/run-dave/prism_run_manifest.v2.json" \
  --json >"$work/order2.json" 2>&1
sed 's/"manifest": .*//' "$work/order1.json" >"$work/o1"
sed 's/"manifest": .*//' "$work/order2.json" >"$work/o2"
cmp -s "$work/o1" "$work/o2" && grep -q '"rank": 1' "$work/o1"
check "ranking independent of argument order" $?

# scores within 1e-9/100 tie and fall back to accepted_at; id breaks a full tie
manifest e-late erin 2025-05-01T00:00:00Z 200 69.31471805599453 100.0 0.5 0.6666666666666666 >"$work/e1.json"
manifest f-early frank 2025-04-01T00:00:00Z 200 69.31471805599453 100.0 0.5 0.6666666666666666 >"$work/e2.json"
manifest a-id gina 2025-04-01T00:00:00Z 200 69.31471805599453 100.0 0.5 0.6666666666666666 >"$work/e3.json"
out=$("$PRISM" leaderboard "$work/e1.json" "$work/e2.json" "$work/e3.json" 2>&1)
ranked=$(echo "$out" | awk '$1 ~ /^[0-9]+$/ {print $3}' | tr '\n' ' ')
[ "$ranked" = "a-id f-early e-late " ]
check "equal scores: earlier accepted_at, then submission_id" $? "[$ranked]"

# without miner/accepted_at: submission_id is the miner, the file time is accepted_at
sed -e '/"miner": /d' -e '/"accepted_at": /d' "$work/good.json" >"$work/anon.json"
touch -d '2024-07-04 12:00:00 UTC' "$work/anon.json"
out=$("$PRISM" leaderboard --json "$work/anon.json" 2>&1)
echo "$out" | grep -q '"miner": "s-half"' && echo "$out" | grep -q '"accepted_at": "2024-07-04T12:00:00Z"' &&
  echo "$out" | grep -q '"accepted_at_source": "file_mtime"' && echo "$out" | grep -q '"s-half": 1.0$'
check "fallbacks: miner = submission_id, accepted_at = file mtime (UTC)" $? "$out"

"$PRISM" leaderboard "$work/nothing-here.json" >/dev/null 2>&1
check "leaderboard of an unreadable file -> exit 3" $([ $? -eq 3 ]; echo $?)
"$PRISM" leaderboard >/dev/null 2>&1
check "leaderboard without arguments -> exit 2" $([ $? -eq 2 ]; echo $?)
"$PRISM" leaderboard --bogus "$lb" >/dev/null 2>&1
check "leaderboard unknown option -> exit 2" $([ $? -eq 2 ]; echo $?)
mkdir -p "$work/zero"
manifest z1 zed 2025-01-01T00:00:00Z 200 69.31471805599453 100.0 0.5 0.0 |
  sed 's/"step0_anomaly": false/"step0_anomaly": true/; s/"anomaly": false/"anomaly": true/; s/"anti_cheat_multiplier": 1.0/"anti_cheat_multiplier": 0.0/; s/"flags": \[\]/"flags": ["step0_anomaly"]/' \
    >"$work/zero/z1.json"
out=$("$PRISM" leaderboard --json "$work/zero" 2>&1)
echo "$out" | grep -q '"zed": 0.0$' && echo "$out" | grep -q '"final_score": 0.0,$'
check "all-zero scores (step-0 anomaly) -> weight 0, nothing earned" $? "$out"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
