#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Tests of vswap-tool: every command on good, unclean, corrupt, truncated,
# foreign and missing files, with the exit status and messages expected.
#
# Usage: test-vswap-tool.sh VSWAP-TOOL VSWAP-MKSTORE   (TAP output)

set -u
TOOL=$1
MKSTORE=$2
DIR=$(mktemp -d "${TMPDIR:-/tmp}/vswap-tool-test.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
STORE=$DIR/store.vswap
n=0
failed=0

ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}

not_ok() {
    n=$((n + 1))
    failed=$((failed + 1))
    echo "not ok $n - $1"
    sed 's/^/# /' "$DIR/out" "$DIR/err" 2>/dev/null | head -40
}

# run WANT-STATUS DESCRIPTION CMD...: run the tool, output in $DIR/out, err
run() {
    local want=$1 desc=$2 status
    shift 2
    "$TOOL" "$@" >"$DIR/out" 2>"$DIR/err"
    status=$?
    if [ "$status" -eq "$want" ]; then
        ok "$desc (exit $status)"
    else
        echo "# expected exit $want, got $status: vswap-tool $*"
        not_ok "$desc"
    fi
}

# expect FILE PATTERN DESCRIPTION: grep -E PATTERN in $DIR/FILE (out,
# err, or both)
expect() {
    local files="$DIR/$1"
    [ "$1" = both ] && files="$DIR/out $DIR/err"
    # shellcheck disable=SC2086
    if cat $files | grep -Eq -- "$2"; then
        ok "$3"
    else
        echo "# no match for '$2' in $1"
        not_ok "$3"
    fi
}

# JSON must parse, when python3 is there to say so.
expect_json() {
    if ! command -v python3 >/dev/null; then
        ok "$1 # SKIP no python3"
    elif python3 -c 'import json, sys; d = json.load(sys.stdin); exit(0 if eval(sys.argv[1]) else 1)' "$2" <"$DIR/out"; then
        ok "$1"
    else
        not_ok "$1"
    fi
}

flip_byte() {
    local file=$1 off=$2 old
    old=$(od -An -tu1 -j "$off" -N1 "$file" | tr -d ' ')
    [ -n "$old" ] || return 0
    printf "\\x$(printf %02x $(( (old ^ 0x5a) & 255 )))" |
        dd of="$file" bs=1 seek="$off" conv=notrunc status=none
}

json_field() {
    sed -n "s/.*\"$1\": \\([0-9]*\\).*/\\1/p" "$DIR/out" | head -1
}

# --- usage ---
run 0 "--help" --help
expect out "Commands:" "--help lists the commands"
run 2 "no command"
run 2 "unknown command" frobnicate
expect err "unknown command 'frobnicate'" "unknown command is named"
run 2 "info without FILE" info
expect err "missing FILE" "missing FILE is reported"
run 2 "unknown option" check --bogus "$STORE"
run 0 "per-command help" check --help
expect out "max-errors" "check --help shows its options"

# --- a clean store ---
if ! "$MKSTORE" "$STORE" >"$DIR/mk" 2>"$DIR/err"; then
    not_ok "vswap-mkstore"
    echo "1..$n"
    exit 1
fi
read -r _ SLOT _ OFFSET <"$DIR/mk"
read -r _ _ GSLOT _ GOFFSET _ GPAGES < <(sed -n 2p "$DIR/mk")
ok "vswap-mkstore: slot $SLOT at byte $OFFSET, group slot $GSLOT of $GPAGES at byte $GOFFSET"

run 0 "info" info "$STORE"
expect out "state: +clean" "info says clean"
expect out "pages: +[0-9]+ stored: [0-9]+ fill" "info counts pages per kind"
run 0 "check" check "$STORE"
expect out "clean$" "check says clean"
run 0 "stats --json" stats "$STORE" --json
expect_json "stats --json parses, clean, with fill and dead bytes" \
    'd["clean"] and d["pages"]["fill"] > 0 and d["dead_bytes"] > 0 and d["file"].endswith("store.vswap")'
run 0 "info --json" info --json "$STORE"
expect_json "info --json parses" 'd["checkpoint"]["valid"]'
run 0 "stats" stats "$STORE"
expect out "^dead_bytes [0-9]+$" "stats prints key value lines"

cp "$STORE" "$DIR/pristine.vswap"
run 0 "compact --full" compact --full -q "$STORE"
expect out "allocated: .* -> " "compact prints bytes before and after"
run 0 "check after compact" check "$STORE"
run 0 "stats --json after compact" stats --json "$STORE"
expect_json "compact --full leaves no dead bytes" 'd["dead_bytes"] == 0 and d["clean"]'
run 0 "compact again (nothing to do)" compact "$STORE"

# --- a store with a compression dictionary (dict=auto) ---
if "$MKSTORE" "$DIR/dict.vswap" --dict >"$DIR/mkdict" 2>"$DIR/err"; then
    ok "vswap-mkstore --dict"
else
    not_ok "vswap-mkstore --dict"
fi
DICT_OFFSET=$(sed -n 's/^dict offset //p' "$DIR/mkdict")
run 0 "info of a store with a dictionary" info "$DIR/dict.vswap"
expect out "map entries, 1 compression dictionaries" "info counts the dictionary"
run 0 "check decodes records with the dictionary" check "$DIR/dict.vswap"
cp "$DIR/dict.vswap" "$DIR/dict-bad.vswap"
run 0 "compact --full with a dictionary" compact --full -q "$DIR/dict.vswap"
run 0 "check after compact keeps the dictionary" check "$DIR/dict.vswap"
expect out "clean$" "check says clean"
flip_byte "$DIR/dict-bad.vswap" "$DICT_OFFSET"
run 1 "check of a corrupt dictionary" check "$DIR/dict-bad.vswap"
expect out "corrupt checkpoint .dictionary" "check names the dictionary"

# --- a corrupt record: check names its slot ---
cp "$DIR/pristine.vswap" "$DIR/bad.vswap"
flip_byte "$DIR/bad.vswap" "$OFFSET"
run 1 "check of a corrupt record" check "$DIR/bad.vswap"
expect out "slot $SLOT: its record .* fails its checksum" "check names slot $SLOT"
expect out "1 problem found" "check summarises"
run 0 "info still works on a corrupt record" info "$DIR/bad.vswap"

# --- a corrupt group record: check names each of its pages ---
cp "$DIR/pristine.vswap" "$DIR/badgroup.vswap"
flip_byte "$DIR/badgroup.vswap" "$GOFFSET"
run 1 "check of a corrupt group record" check "$DIR/badgroup.vswap"
expect out "slot $GSLOT: no sound group record holding it" \
    "check names group slot $GSLOT"
expect out "$GPAGES problems found" "check counts every page of the group"
run 0 "info counts pages in groups" info "$DIR/pristine.vswap"
expect out "zstd \([1-9][0-9]* in groups\)" "info says how many pages are in groups"

# --- corrupt metadata ---
cp "$DIR/pristine.vswap" "$DIR/sb.vswap"
flip_byte "$DIR/sb.vswap" 20
run 1 "check of a corrupt superblock" check "$DIR/sb.vswap"
expect err "corrupt superblock" "corrupt superblock is reported"
run 1 "compact refuses a corrupt superblock" compact "$DIR/sb.vswap"

cp "$DIR/pristine.vswap" "$DIR/ck.vswap"
run 0 "stats --json for the checkpoint offset" stats --json "$DIR/ck.vswap"
CKPT=$(json_field offset)
flip_byte "$DIR/ck.vswap" $((CKPT + 4096 + 40))
run 1 "check of a corrupt checkpoint" check "$DIR/ck.vswap"
expect out "corrupt checkpoint" "corrupt checkpoint is reported"
run 0 "info of a corrupt checkpoint" info "$DIR/ck.vswap"
expect out "checkpoint is unusable" "info explains the checkpoint is unusable"
run 1 "compact refuses a corrupt checkpoint" compact "$DIR/ck.vswap"

# --- truncated files ---
for size in 100 4096 $((CKPT + 200)) $((CKPT - 70000)); do
    cp "$DIR/pristine.vswap" "$DIR/trunc.vswap"
    truncate -s "$size" "$DIR/trunc.vswap"
    run 1 "check of a file truncated to $size bytes" check "$DIR/trunc.vswap"
    expect both "truncated|cut short|beyond the end" \
        "truncation to $size bytes is reported"
done
cp "$DIR/pristine.vswap" "$DIR/trunc.vswap"
truncate -s 100 "$DIR/trunc.vswap"
run 1 "info of a 100-byte store" info "$DIR/trunc.vswap"
expect err "truncated" "info says truncated"

# --- an unclean store ---
"$MKSTORE" "$DIR/unclean.vswap" --unclean >/dev/null 2>&1
run 0 "info of an unclean store" info "$DIR/unclean.vswap"
expect out "not closed cleanly" "info says not closed cleanly"
expect out "records: +[1-9][0-9]* in written segments" "info still scans segment headers"
run 1 "check of an unclean store" check "$DIR/unclean.vswap"
expect out "not closed cleanly" "check says not closed cleanly"
run 1 "compact refuses an unclean store" compact "$DIR/unclean.vswap"
expect err "not closed cleanly" "compact says why"
run 0 "stats --json of an unclean store" stats --json "$DIR/unclean.vswap"
expect_json "unclean JSON has nulls" 'not d["clean"] and d["pages"] is None'

# --- foreign and missing files ---
head -c 65536 /dev/urandom >"$DIR/random.bin"
run 2 "info of random bytes" info "$DIR/random.bin"
expect err "random.bin: not a vswap store file \\(bad magic\\)" "bad magic is reported"
run 2 "check of random bytes" check "$DIR/random.bin"
run 2 "compact of random bytes" compact "$DIR/random.bin"
: >"$DIR/empty.bin"
run 2 "info of an empty file" info "$DIR/empty.bin"
expect err "empty file" "empty file is reported"
run 2 "info of a missing file" info "$DIR/missing.vswap"
expect err "missing.vswap: No such file or directory" "missing file is reported"
run 2 "check of a directory" check "$DIR"
expect err "not a regular file" "directory is reported"

# A file name that needs escaping in JSON.
WEIRD="$DIR/we\"ird\\name"
cp "$DIR/pristine.vswap" "$WEIRD"
run 0 "stats --json of an odd file name" stats --json "$WEIRD"
expect_json "the odd file name round-trips" 'd["file"].endswith("we\"ird\\name")'

# --- garbage in, no crash: flipped bytes in every structure ---
SIZE=$(stat -c %s "$DIR/pristine.vswap")
RANDOM=4242
crashes=0
for i in $(seq 1 40); do
    cp "$DIR/pristine.vswap" "$DIR/fuzz.vswap"
    for j in 1 2 3 4; do
        case $((RANDOM % 4)) in
        0) off=$((RANDOM % 64)) ;;                          # superblock
        1) off=$((65536 * (1 + RANDOM % 8) + RANDOM % 64)) ;; # segment headers
        2) off=$((CKPT + RANDOM % 8192)) ;;                 # checkpoint
        *) off=$(((RANDOM * 32768 + RANDOM) % SIZE)) ;;    # anywhere
        esac
        flip_byte "$DIR/fuzz.vswap" "$off"
    done
    for cmd in info check "stats --json"; do
        # shellcheck disable=SC2086
        "$TOOL" $cmd "$DIR/fuzz.vswap" >"$DIR/out" 2>"$DIR/err"
        status=$?
        if [ "$status" -gt 2 ] || grep -q "Sanitizer\|runtime error" "$DIR/err"; then
            echo "# vswap-tool $cmd exit $status on fuzz case $i"
            crashes=$((crashes + 1))
        fi
    done
done
if [ "$crashes" -eq 0 ]; then
    ok "no crash on 40 stores with flipped bytes"
else
    not_ok "$crashes crashes on stores with flipped bytes"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
