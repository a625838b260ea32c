#!/usr/bin/env bash
# tests/e2e/tokenizers.sh — staged reference tokenizers through the real binary: `prism tokenizers
# verify` on an empty dir (prism:tokenizer-missing naming `scripts/stage-tokenizers DIR`, exit 1),
# usage errors (exit 2); and, when the files are staged (env PRISM_REFERENCE_TOKENIZER_DIR, else
# the build's default dir): a clean verify (exit 0), tampered copies (one flipped byte, a removed
# manifest: exit 1 with the rule id), and Llama parity with Debian's `spm_encode
# --output_format=id` on every line of tests/fixtures/sample.txt through `prism tokenize`.
# Staging needs the network, so this test never stages: unstaged checks print "skipped: ...".
# With PRISM_E2E_NETWORK=1 it also runs scripts/stage-tokenizers into a temp dir (fresh, then
# again to show it is idempotent).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

skip() { echo "skipped: $*"; }

# ---- usage ----
run_prism help tokenizers --help
expect_rc help 0 "prism tokenizers --help"
check "help names the staging command" grep -q 'scripts/stage-tokenizers DIR' "$TMP/help.out"
run_prism noargs tokenizers
expect_rc noargs 2 "prism tokenizers without a command is a usage error"
run_prism bogus tokenizers fetch
expect_rc bogus 2 "an unknown tokenizers command is a usage error"
run_prism two tokenizers verify "$TMP/a" "$TMP/b"
expect_rc two 2 "verify takes one DIR"

# ---- nothing staged ----
mkdir -p "$TMP/empty"
run_prism empty tokenizers verify "$TMP/empty"
expect_rc empty 1 "verify on an empty dir"
expect_stderr empty "^prism: prism:tokenizer-missing: .*gpt2/gpt2.tiktoken.*\`scripts/stage-tokenizers $TMP/empty\`" \
  "the missing file and the staging command are named, with the rule id"
check "each pinned file is reported missing" \
  test "$(grep -c ': missing$' "$TMP/empty.out")" -eq 5
PRISM_REFERENCE_TOKENIZER_DIR="$TMP/empty" run_prism envdir tokenizers verify
expect_rc envdir 1 "verify without DIR uses PRISM_REFERENCE_TOKENIZER_DIR"
check "the env dir is the one checked" grep -q "^reference tokenizers: $TMP/empty\$" "$TMP/envdir.out"
printf 'Hello world!' >"$TMP/hello.txt"
run_prism tok_missing tokenize --tokenizer llama --tokenizers "$TMP/empty" <"$TMP/hello.txt"
expect_rc tok_missing 1 "prism tokenize with an unstaged dir fails"
expect_stderr tok_missing "prism:tokenizer-missing: .*llama/tokenizer.model.*scripts/stage-tokenizers" \
  "… naming llama/tokenizer.model and the staging command"

# ---- the staged dir ----
if [ -n "${PRISM_REFERENCE_TOKENIZER_DIR:-}" ]; then
  STAGED=$PRISM_REFERENCE_TOKENIZER_DIR
else
  STAGED=$(env -u PRISM_REFERENCE_TOKENIZER_DIR "$PRISM" tokenizers verify 2>/dev/null | sed -n 's/^reference tokenizers: //p')
fi

if [ -z "$STAGED" ] || ! "$PRISM" tokenizers verify "$STAGED" >/dev/null 2>&1; then
  skip "reference tokenizers are not staged at ${STAGED:-?} (run scripts/stage-tokenizers ${STAGED:-DIR}):" \
    "clean verify, tamper and spm_encode parity checks did not run"
else
  run_prism clean tokenizers verify "$STAGED"
  expect_rc clean 0 "verify on the staged dir $STAGED"
  check "all five entries ok" test "$(grep -c ': ok' "$TMP/clean.out")" -eq 5

  # one flipped byte in the middle of the llama model
  cp -r "$STAGED" "$TMP/tampered"
  chmod -R u+w "$TMP/tampered"
  M="$TMP/tampered/llama/tokenizer.model"
  off=$(($(stat -c %s "$M") / 2))
  byte=$(dd if="$M" bs=1 skip="$off" count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
  printf "\\$(printf '%03o' $((byte ^ 1)))" | dd of="$M" bs=1 seek="$off" conv=notrunc 2>/dev/null
  run_prism tampered tokenizers verify "$TMP/tampered"
  expect_rc tampered 1 "verify on a copy with one flipped byte in llama/tokenizer.model"
  expect_stderr tampered "^prism: prism:tokenizer-checksum: .*llama/tokenizer.model.*scripts/stage-tokenizers" \
    "the checksum rule id, the file and the staging command"
  check "only that file is reported" test "$(grep -c 'sha256 mismatch' "$TMP/tampered.out")" -eq 1
  run_prism tok_tampered tokenize --tokenizer llama --tokenizers "$TMP/tampered" <"$TMP/hello.txt"
  expect_rc tok_tampered 1 "prism tokenize refuses the tampered model"
  expect_stderr tok_tampered "prism:tokenizer-checksum" "… with prism:tokenizer-checksum"

  cp -r "$STAGED" "$TMP/nomanifest"
  chmod -R u+w "$TMP/nomanifest"
  rm "$TMP/nomanifest/reference_manifest.json"
  run_prism nomanifest tokenizers verify "$TMP/nomanifest"
  expect_rc nomanifest 1 "verify without reference_manifest.json"
  expect_stderr nomanifest "prism:tokenizer-missing: .*reference_manifest.json" "the manifest is named"

  # Llama parity with Debian's spm_encode, line by line over the sample corpus
  if ! command -v spm_encode >/dev/null 2>&1; then
    skip "spm_encode (Debian package sentencepiece) is not installed: the Llama parity check did not run"
  else
    spm_encode --model="$STAGED/llama/tokenizer.model" --output_format=id <tests/fixtures/sample.txt >"$TMP/spm.ids"
    : >"$TMP/ours.ids"
    lines=0
    while IFS= read -r line || [ -n "$line" ]; do
      printf '%s' "$line" | "$PRISM" tokenize --tokenizer llama --tokenizers "$STAGED" \
        | tr -d '[],' | tr -s ' ' | sed 's/^ //; s/ $//' >>"$TMP/ours.ids"
      lines=$((lines + 1))
    done <tests/fixtures/sample.txt
    check "spm_encode gave one id line per sample line ($lines)" test "$(wc -l <"$TMP/spm.ids")" -eq "$lines"
    if diff -q "$TMP/spm.ids" "$TMP/ours.ids" >/dev/null; then
      ok "llama ids equal spm_encode --output_format=id on all $lines sample lines ($(wc -w <"$TMP/ours.ids") ids)"
    else
      not_ok "llama ids differ from spm_encode"
      diff "$TMP/spm.ids" "$TMP/ours.ids" | head -n 6 | cut -c1-200 | sed 's/^/       /'
    fi
    check "the vector: \"Hello world!\" -> 15043 3186 29991" \
      test "$("$PRISM" tokenize --tokenizer llama --tokenizers "$STAGED" <"$TMP/hello.txt" | tr -d '[],')" = "15043 3186 29991"
  fi
fi

# ---- staging itself (network) ----
if [ "${PRISM_E2E_NETWORK:-0}" = 1 ]; then
  check "scripts/stage-tokenizers stages a fresh dir" scripts/stage-tokenizers "$TMP/fresh"
  run_prism fresh tokenizers verify "$TMP/fresh"
  expect_rc fresh 0 "the freshly staged dir verifies"
  check "a second run fetches nothing" sh -c "scripts/stage-tokenizers '$TMP/fresh' | grep -q 'nothing fetched'"
  printf 'x' >>"$TMP/fresh/gpt2/vocab.bpe"
  check "a damaged file is re-fetched" scripts/stage-tokenizers "$TMP/fresh"
  run_prism refetched tokenizers verify "$TMP/fresh"
  expect_rc refetched 0 "… and the dir verifies again"
else
  skip "PRISM_E2E_NETWORK is not 1: scripts/stage-tokenizers (npm) was not run"
fi

finish
