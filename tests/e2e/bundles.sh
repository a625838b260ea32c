#!/usr/bin/env bash
# tests/e2e/bundles.sh — intake through the real binary. `prism check` on every case of the
# committed corpus (tests/bundles/CASE/bundle, expected rule id on the README's `Expected:` line),
# on every zip case that test_bundle writes (`test_bundle --emit-zips`: bombs, nested bombs,
# encryption, link entries, traversal names — binary, so generated, never committed), on non-zip,
# empty and truncated .zip files, and on links and FIFOs made here. A rejection must exit 3 and
# print `prism: <rule-id>: …` on stderr; an accepted bundle must exit 0. test_bundle is looked for
# next to the binary (the CMake build puts them side by side) or in env PRISM_TEST_BUNDLE.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

# expect_outcome NAME EXPECTED DESCRIPTION — EXPECTED is `ok` or a rule id.
expect_outcome() {
  local name=$1 want=$2 what=$3
  if [ "$want" = ok ]; then
    expect_rc "$name" 0 "$what: accepted"
  else
    expect_rc "$name" 3 "$what: rejected"
    expect_stderr "$name" "^prism: $want: " "$what: reports $want"
  fi
}

# ---- the committed corpus ----
cases=0
for dir in tests/bundles/*/; do
  case_name=$(basename "$dir")
  want=$(sed -n 's/^Expected: `\(.*\)`$/\1/p' "$dir/README.md" | head -n 1)
  if [ -z "$want" ]; then
    not_ok "corpus $case_name: README.md has no Expected line"
    continue
  fi
  run_prism "corpus_$case_name" check "$dir/bundle"
  expect_outcome "corpus_$case_name" "$want" "corpus $case_name"
  cases=$((cases + 1))
done
check "corpus has at least 10 cases ($cases)" test "$cases" -ge 10
expect_stderr corpus_ok-unknown-key-warning "^prism: warning: .*architecture_id.*known keys" \
  "an unknown prism.yaml key is a warning listing the known keys"
expect_stderr corpus_yaml-billion-laughs "prism.yaml:1:" "YAML rejections carry prism.yaml:line"
expect_stderr corpus_contract-declared-missing "nets/model.lua" "a declared-but-missing entrypoint is named"

# ---- generated zips ----
gen=${PRISM_TEST_BUNDLE:-$(dirname "$PRISM")/test_bundle}
if [ -x "$gen" ] && "$gen" --emit-zips "$TMP/zips" >/dev/null; then
  zips=0
  for expect_file in "$TMP"/zips/*.expect; do
    case_name=$(basename "$expect_file" .expect)
    run_prism "zip_$case_name" check "$TMP/zips/$case_name.zip"
    expect_outcome "zip_$case_name" "$(cat "$expect_file")" "zip $case_name"
    zips=$((zips + 1))
  done
  check "generated zip cases ($zips)" test "$zips" -ge 20
else
  not_ok "zip cases: $gen is missing or failed (set PRISM_TEST_BUNDLE to the test_bundle binary)"
fi

# ---- broken archives through the binary (the unit test covers the same in memory) ----
printf 'this is text, not a zip archive\n' >"$TMP/not-a-zip.zip"
run_prism not_a_zip check "$TMP/not-a-zip.zip"
expect_outcome not_a_zip prism:bundle-zip "non-zip bytes named .zip"
: >"$TMP/empty.zip"
run_prism empty_zip check "$TMP/empty.zip"
expect_outcome empty_zip prism:bundle-zip "zero-byte .zip"
if [ -s "$TMP/zips/ok-nested-folder.zip" ]; then
  whole=$(wc -c <"$TMP/zips/ok-nested-folder.zip")
  head -c $((whole / 2)) "$TMP/zips/ok-nested-folder.zip" >"$TMP/truncated.zip"
  run_prism truncated_zip check "$TMP/truncated.zip"
  expect_outcome truncated_zip prism:bundle-zip "a valid zip cut at half its length"
else
  not_ok "truncated zip: the generated ok-nested-folder.zip is missing"
fi

# ---- links and special files (made here: they cannot be committed) ----
ok_bundle=tests/bundles/ok-defaults/bundle
mkdir -p "$TMP/link" "$TMP/link-dir" "$TMP/fifo"
cp "$ok_bundle"/*.lua "$TMP/link/"
ln -s /etc/passwd "$TMP/link/secrets.txt"
run_prism link check "$TMP/link"
expect_outcome link prism:bundle-symlink "symlink to a file"
expect_stderr link "secrets.txt" "the link is named"
cp "$ok_bundle"/*.lua "$TMP/link-dir/"
ln -s /usr/share "$TMP/link-dir/lib"
run_prism link_dir check "$TMP/link-dir"
expect_outcome link_dir prism:bundle-symlink "symlink to a folder"
cp "$ok_bundle"/*.lua "$TMP/fifo/"
mkfifo "$TMP/fifo/pipe.txt"
run_prism fifo check "$TMP/fifo"
expect_outcome fifo prism:bundle-symlink "FIFO (never opened, no hang)"
run_prism missing check "$TMP/no-such-bundle"
expect_outcome missing prism:bundle-path "bundle path that does not exist"

finish
