# tests/e2e/lib/common.bash — shared by the end-to-end CLI tests (sourced, not run). Each test
# script gets the prism binary as $1 (or env PRISM), runs from the source root, prints one line per
# check and ends with "N passed, M failed"; it exits non-zero when any check failed.
set -u

PRISM=${1:-${PRISM:-}}
if [ -z "$PRISM" ] || [ ! -x "$PRISM" ]; then
  echo "usage: $0 PATH/TO/prism   (or env PRISM)" >&2
  exit 2
fi
PRISM=$(cd "$(dirname "$PRISM")" && pwd)/$(basename "$PRISM")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$ROOT"
LIB=tests/e2e/lib
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prism-e2e.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# Fixture bundles are stored without the files they share (e2e-common: the tiny LM's
# architecture.lua, the honest learner honest.lua). assemble_bundles DEST CASE_DIR... copies each
# case directory to DEST (it keeps its name, which is the submission id) and gives it every
# e2e-common file it does not have itself.
COMMON_DIR=tests/fixtures/bundles/e2e-common
assemble_bundles() {
  local dest=$1 dir common
  shift
  mkdir -p "$dest"
  for dir in "$@"; do
    dir=${dir%/}
    [ "${dir##*/}" = e2e-common ] && continue
    cp -R "$dir" "$dest/"
    for common in "$COMMON_DIR"/*; do
      [ -e "$dir/${common##*/}" ] || cp "$common" "$dest/${dir##*/}/"
    done
  done
}
BUNDLES=$TMP/bundles
assemble_bundles "$BUNDLES" tests/fixtures/bundles/e2e-*/
# One kernel thread per run: ctest runs two scripts at once on small machines, and the numbers
# do not depend on the thread count anyway.
export PRISM_THREADS=1

PASSED=0
FAILED=0

ok() { echo "ok   $*"; PASSED=$((PASSED + 1)); }
not_ok() { echo "FAIL $*"; FAILED=$((FAILED + 1)); }

# check DESCRIPTION CMD... — passes when CMD exits 0.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# expect_json DESCRIPTION FILE [FILE...] -- EXPR... — Lua expressions over the decoded files
# (m, m2, ...); see lib/expect.lua. Its per-expression lines are shown only on failure.
expect_json() {
  local what=$1
  shift
  local out
  if out=$("$PRISM" exec "$LIB/expect.lua" "$@" 2>&1); then
    ok "$what"
  else
    not_ok "$what"
    echo "$out" | sed 's/^/       /'
  fi
}

# run_prism NAME ARGS... — runs prism with ARGS; stdout, stderr and the exit code land in
# $TMP/NAME.out, $TMP/NAME.err, $TMP/NAME.rc, and $RC holds the code.
run_prism() {
  local name=$1
  shift
  "$PRISM" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  RC=$?
  echo "$RC" >"$TMP/$name.rc"
}

# Prints the captured output of a run (for a failing check's context).
show() { sed 's/^/       | /' "$TMP/$1.err" "$TMP/$1.out" | tail -n 25; }

# expect_rc NAME CODE DESCRIPTION
expect_rc() {
  local got
  got=$(cat "$TMP/$1.rc")
  if [ "$got" = "$2" ]; then ok "$3 (exit $2)"; else not_ok "$3: exit $got, expected $2"; show "$1"; fi
}

# expect_stderr NAME REGEX DESCRIPTION
expect_stderr() {
  if grep -Eq -- "$2" "$TMP/$1.err"; then ok "$3"; else not_ok "$3: stderr lacks /$2/"; show "$1"; fi
}

# make_data DIR TRAIN_BYTES VAL_BYTES [DOC_BYTES] — a locked-layout dataset from the committed
# sample text: DIR/train/train-00000.jsonl and DIR/val/val-00000.jsonl, disjoint text.
make_data() {
  local dir=$1 train=$2 val=$3 doc=${4:-600}
  mkdir -p "$dir/train" "$dir/val"
  "$PRISM" exec "$LIB/mkdata.lua" "$dir/train/train-00000.jsonl" tests/fixtures/sample.txt 0 "$train" "$doc" train
  "$PRISM" exec "$LIB/mkdata.lua" "$dir/val/val-00000.jsonl" tests/fixtures/sample.txt 120000 "$val" "$doc" val
}

finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit $?
}
