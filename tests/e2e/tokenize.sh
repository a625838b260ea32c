#!/usr/bin/env bash
# tests/e2e/tokenize.sh — `prism tokenize` through the real binary: the bytes tokenizer always
# (ids, --count, --decode round trip on the sample text, byte-exact), usage errors (exit 2),
# bad id arrays and out-of-range ids (exit 1 with a rule id), a missing staged dir
# (prism:tokenizer-missing naming scripts/stage-tokenizers); and, when reference tokenizers are
# staged (env PRISM_REFERENCE_TOKENIZER_DIR, else build/reference-tokenizers), the test vectors of
# data-sources.md for gpt2 and llama and a round trip of the whole sample text. Without staged
# files those checks print "skipped: ..." and are not counted as passed.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

TOKDIR=${PRISM_REFERENCE_TOKENIZER_DIR:-$ROOT/build/reference-tokenizers}
SAMPLE=tests/fixtures/sample.txt

# tok NAME ARGS... — `prism tokenize ARGS...` with stdin from $TMP/NAME.in
tok() {
  local name=$1
  shift
  "$PRISM" tokenize "$@" <"$TMP/$name.in" >"$TMP/$name.out" 2>"$TMP/$name.err"
  RC=$?
  echo "$RC" >"$TMP/$name.rc"
}
expect_out() { # NAME EXPECTED DESCRIPTION
  if [ "$(cat "$TMP/$1.out")" = "$2" ]; then ok "$3"; else not_ok "$3: got '$(head -c 300 "$TMP/$1.out")'"; show "$1"; fi
}

# ---- bytes: no files needed ----
printf 'Hello world' >"$TMP/b1.in"
tok b1 --tokenizer bytes
expect_rc b1 0 "bytes encodes"
expect_out b1 "[72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100]" "bytes ids are the UTF-8 bytes"
printf 'h\xc3\xa9' >"$TMP/b2.in"
tok b2 --tokenizer=BYTES --count
expect_out b2 "tokens 3 bytes 3" "--count on a 2-letter, 3-byte text (and --tokenizer=NAME, any case)"
printf '' >"$TMP/b3.in"
tok b3 --tokenizer bytes
expect_out b3 "[]" "empty stdin is an empty array"
"$PRISM" tokenize --tokenizer bytes <"$SAMPLE" >"$TMP/sample.ids" 2>"$TMP/sample.err" &&
  "$PRISM" tokenize --tokenizer bytes --decode <"$TMP/sample.ids" >"$TMP/sample.back" 2>>"$TMP/sample.err"
check "bytes: decode(encode(sample.txt)) is sample.txt byte for byte" cmp -s "$SAMPLE" "$TMP/sample.back"
head -c 4096 /dev/urandom >"$TMP/random.bin"
"$PRISM" tokenize --tokenizer bytes <"$TMP/random.bin" | "$PRISM" tokenize --tokenizer bytes --decode >"$TMP/random.back"
check "bytes: round trip of 4 KiB of random bytes" cmp -s "$TMP/random.bin" "$TMP/random.back"
printf ' [ 104 ,105\n]\n' >"$TMP/d1.in"
tok d1 --tokenizer bytes --decode
expect_out d1 "hi" "--decode accepts JSON whitespace"

# ---- errors ----
printf 'x' >"$TMP/e.in"
"$PRISM" tokenize --decode <"$TMP/e.in" >"$TMP/e1.out" 2>"$TMP/e1.err"; echo $? >"$TMP/e1.rc"
expect_rc e1 2 "--tokenizer is required"
"$PRISM" tokenize --tokenizer bytes --frobnicate <"$TMP/e.in" >"$TMP/e2.out" 2>"$TMP/e2.err"; echo $? >"$TMP/e2.rc"
expect_rc e2 2 "an unknown option is a usage error"
expect_stderr e2 "unknown option '--frobnicate'" "the unknown option is named"
"$PRISM" tokenize --tokenizer bytes --decode --count <"$TMP/e.in" >"$TMP/e3.out" 2>"$TMP/e3.err"; echo $? >"$TMP/e3.rc"
expect_rc e3 2 "--decode with --count is a usage error"
"$PRISM" tokenize --tokenizer bytes --decode <"$TMP/e.in" >"$TMP/e4.out" 2>"$TMP/e4.err"; echo $? >"$TMP/e4.rc"
expect_rc e4 1 "--decode of text that is not an id array fails"
expect_stderr e4 "^prism: prism:tokenize-input: --decode expects a JSON array" "the malformed input is explained"
printf '[1, 2,]' >"$TMP/e5.in"
tok e5 --tokenizer bytes --decode
expect_rc e5 1 "a trailing comma is refused"
printf '[1, -2]' >"$TMP/e6.in"
tok e6 --tokenizer bytes --decode
expect_stderr e6 "prism:tokenize-input: .*integers >= 0" "a negative id is refused"
printf '[72, 256]' >"$TMP/e7.in"
tok e7 --tokenizer bytes --decode
expect_rc e7 1 "id 256 is out of the bytes vocabulary"
expect_stderr e7 "^prism: prism:tokenizer-id: " "an out-of-range id carries prism:tokenizer-id"
"$PRISM" tokenize --tokenizer gpt3 <"$TMP/e.in" >"$TMP/e8.out" 2>"$TMP/e8.err"; echo $? >"$TMP/e8.rc"
expect_rc e8 1 "an unknown tokenizer fails"
expect_stderr e8 "prism:tokenizer-unknown" "with prism:tokenizer-unknown"
"$PRISM" tokenize --tokenizer gpt2 --tokenizers "$TMP/nowhere" <"$TMP/e.in" >"$TMP/e9.out" 2>"$TMP/e9.err"; echo $? >"$TMP/e9.rc"
expect_rc e9 1 "gpt2 without staged files fails"
expect_stderr e9 "^prism: prism:tokenizer-missing: .*scripts/stage-tokenizers" "with prism:tokenizer-missing naming the staging command"
head -c $((256 * 1024 * 1024 + 1)) /dev/zero | "$PRISM" tokenize --tokenizer bytes --count >"$TMP/big.out" 2>"$TMP/big.err"
echo $? >"$TMP/big.rc"
expect_rc big 1 "stdin over 256 MiB is refused"
expect_stderr big "^prism: prism:tokenize-input: stdin is larger than 256 MiB" "the bound is named"
run_prism help tokenize --help
expect_rc help 0 "--help"
check "--help names every option" grep -q -- "--tokenizers DIR" "$TMP/help.out"

# ---- staged reference tokenizers ----
vector() { # NAME TOKENIZER TEXT EXPECTED
  printf '%s' "$3" >"$TMP/$1.in"
  tok "$1" --tokenizer "$2" --tokenizers "$TOKDIR"
  expect_out "$1" "$4" "$2: \"$3\" -> $4"
}
round_trip() { # TOKENIZER FILE
  "$PRISM" tokenize --tokenizer "$1" --tokenizers "$TOKDIR" <"$2" >"$TMP/rt.ids" &&
    "$PRISM" tokenize --tokenizer "$1" --tokenizers "$TOKDIR" --decode <"$TMP/rt.ids" >"$TMP/rt.back"
  check "$1: decode(encode($(basename "$2"))) is the input byte for byte" cmp -s "$2" "$TMP/rt.back"
}
if [ -s "$TOKDIR/gpt2/gpt2.tiktoken" ]; then
  vector g1 gpt2 "Hello" "[15496]"
  vector g2 gpt2 "Hello world" "[15496, 995]"
  vector g3 gpt2 "The quick brown fox jumps over the lazy dog." "[464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]"
  printf 'a <|endoftext|> b' >"$TMP/g4.in"
  tok g4 --tokenizer gpt2 --tokenizers "$TOKDIR"
  check "gpt2: <|endoftext|> in a text is ordinary text, not id 50256" bash -c "grep -q '^\[' '$TMP/g4.out' && ! grep -qw 50256 '$TMP/g4.out'"
  round_trip gpt2 "$TMP/g4.in"
  round_trip gpt2 "$SAMPLE"
  round_trip gpt2 "$TMP/random.bin"
  printf 'Hello world' >"$TMP/g5.in"
  tok g5 --tokenizer gpt2 --tokenizers "$TOKDIR" --count
  expect_out g5 "tokens 2 bytes 11" "gpt2 --count"
  printf '[50257]' >"$TMP/g6.in"
  tok g6 --tokenizer gpt2 --tokenizers "$TOKDIR" --decode
  expect_stderr g6 "^prism: prism:tokenizer-id: " "gpt2: id 50257 is out of range"
else
  echo "skipped: gpt2 vectors and round trips (no staged files at $TOKDIR; run scripts/stage-tokenizers $TOKDIR)"
fi
# ---- prism run with ctx:reference_tokenizer("gpt2"): both bases in the manifest ----
M=prism_run_manifest.v2.json
RUN_ARGS=(--vocab-size 256 --seq-len 32 --heldout-bytes 4096 --time-budget 300 --grace 60)
cp -r "$BUNDLES/e2e-learner" "$TMP/gpt2-learner"
sed -i 's/seq_len = ctx.max_seq_len }/seq_len = ctx.max_seq_len, tokenizer = ctx:reference_tokenizer("gpt2") }/' \
  "$TMP/gpt2-learner/honest.lua" # the learner's loop (e2e-common/honest.lua, copied into every fixture)
check "the gpt2 learner bundle asks for the gpt2 tokenizer" grep -q 'reference_tokenizer("gpt2")' "$TMP/gpt2-learner/honest.lua"
make_data "$TMP/data" 8000 3000
run_prism run_missing run "$TMP/gpt2-learner" "${RUN_ARGS[@]}" --data "$TMP/data" --val "$TMP/data" \
  --tokenizers "$TMP/nowhere" --out "$TMP/run_missing"
expect_rc run_missing 1 "prism run with gpt2 and no staged files fails"
expect_json "its manifest names prism:tokenizer-missing" "$TMP/run_missing/$M" -- \
  'm.failure.rule_id == "prism:tokenizer-missing"' 'm.score.final_score == null'
if [ -s "$TOKDIR/gpt2/gpt2.tiktoken" ]; then
  run_prism run_gpt2 run "$TMP/gpt2-learner" "${RUN_ARGS[@]}" --data "$TMP/data" --val "$TMP/data" \
    --tokenizers "$TOKDIR" --out "$TMP/run_gpt2"
  expect_rc run_gpt2 0 "prism run with ctx:reference_tokenizer(\"gpt2\") is scored"
  expect_json "train and val bpb are both on the gpt2 basis; the held-out ran" "$TMP/run_gpt2/$M" -- \
    'm.metrics.train_bpb_basis == "gpt2"' 'm.metrics.val_bpb_basis == "gpt2"' 'finite(m.metrics.val_bpb_trained)' \
    'finite(m.score.final_score)'
else
  echo "skipped: prism run on the gpt2 basis (no staged files at $TOKDIR)"
fi

if [ -s "$TOKDIR/llama/tokenizer.model" ]; then
  vector l1 llama "Hello world!" "[15043, 3186, 29991]"
  round_trip llama "$SAMPLE"
else
  echo "skipped: llama vectors and round trip (no staged tokenizer.model at $TOKDIR; run scripts/stage-tokenizers $TOKDIR)"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
