#!/bin/sh
# The README's table of settings must be what the table in src/config.c prints
# (settings-doc --markdown), so that neither can change without the other.
# Usage: check-readme.sh SETTINGS_DOC README [--write]
# With --write the README's table is replaced by the generated one.
set -eu
tool=$1
readme=$2
begin='<!-- settings table: generated from src/config.c by settings-doc --markdown -->'
end='<!-- end of the settings table -->'
fail() {
    echo "check-readme: $*" >&2
    exit 1
}
[ "$(grep -cxF -- "$begin" "$readme")" = 1 ] || fail "$readme: no single line '$begin'"
[ "$(grep -cxF -- "$end" "$readme")" = 1 ] || fail "$readme: no single line '$end'"
want=$(mktemp)
got=$(mktemp)
trap 'rm -f "$want" "$got" "$want.new"' EXIT
"$tool" --markdown >"$want" || fail "$tool --markdown failed"
[ "$(wc -l <"$want")" -ge 20 ] || fail "$tool printed fewer than 20 lines"
awk -v b="$begin" -v e="$end" '$0 == e { on = 0 } on { print } $0 == b { on = 1 }' "$readme" >"$got"
if [ "${3:-}" = --write ]; then
    awk -v b="$begin" -v e="$end" -v f="$want" '
        $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
        $0 == e { skip = 0 }
        !skip { print }' "$readme" >"$want.new"
    cat "$want.new" >"$readme"
    echo "check-readme: wrote the settings table into $readme"
    exit 0
fi
if ! diff -u "$got" "$want" >&2; then
    fail "the README's settings table differs from the table in src/config.c (above: - README, + table); run: sh tests/docs/check-readme.sh build/settings-doc README.md --write"
fi
echo "check-readme: the README's $(($(wc -l <"$want") - 2)) settings match src/config.c"
