#!/usr/bin/env bash
# tests/e2e/pairs_order.sh — `pairs` order cannot change a score (issue 5). The fixture
# tests/fixtures/bundles/pairs-layers builds its residual blocks by iterating a string-keyed
# table with pairs, so its block order and its init order follow pairs order; stock LuaJIT seeds
# its string hash per process, which would give each run its own model. Three runs in separate
# processes must give identical online_loss arrays, bpb, final score and held-out numbers. (With
# stock pairs the runs differ, and the held-out child — another process — even rebuilds the
# blocks in another order and cannot load the trained state: the held-out check is skipped.)
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

make_data "$TMP/data" 12000 4000
ARGS=(--data "$TMP/data" --val "$TMP/data" --vocab-size 256 --seq-len 32 --heldout-bytes 2048 --token-budget 2048
      --time-budget 300 --grace 60)

for i in 1 2 3; do
  run_prism "run$i" run tests/fixtures/bundles/pairs-layers "${ARGS[@]}" --out "$TMP/out$i"
  expect_rc "run$i" 0 "run $i of the pairs-built model is scored"
  expect_json "run $i: the held-out child rebuilt the same model (its trained state loaded)" \
    "$TMP/out$i/prism_run_manifest.v2.json" -- 'finite(m.metrics.heldout_delta) and finite(m.metrics.val_bpb_trained)'
done
M1=$TMP/out1/prism_run_manifest.v2.json
# 14,648 parameters: embedding 256x16, head 16x256 + 256, and all eight blocks (33 * width + 16
# each, widths summing to 184).
expect_json "run 1 is a real learning run" "$M1" -- \
  'm.metrics.consumed_batches == 16 and len(m.metrics.online_loss) == 16 and all(m.metrics.online_loss, finite)' \
  'm.compute.model_params == 14648 and finite(m.score.prequential_bpb) and m.score.final_score > 0'
for i in 2 3; do
  expect_json "runs 1 and $i: identical online_loss, bpb, final score, held-out" "$M1" "$TMP/out$i/prism_run_manifest.v2.json" -- \
    'same(m.metrics.online_loss, m2.metrics.online_loss)' \
    'm.score.prequential_bpb == m2.score.prequential_bpb and m.score.final_score == m2.score.final_score' \
    'm.metrics.val_bpb_trained == m2.metrics.val_bpb_trained and same(m.score, m2.score)'
done

finish
