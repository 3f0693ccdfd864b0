#!/bin/sh
# Checks the generated man page against the program's --help (both come from
# docs/teams-attendance.1.txt): every option, command and environment variable that
# --help names is in the man page, and the page has the parts a man page needs.
# With groff installed, the page must also format without a warning.
# Usage: check-man.sh BINARY MANPAGE
set -eu
bin=$1
page=$2
fail() {
    echo "check-man: $*" >&2
    exit 1
}
[ -s "$page" ] || fail "$page is missing or empty"
help=$("$bin" --help) || fail "$bin --help failed"
[ -n "$help" ] || fail "--help printed nothing"

# the page as text: roff escapes undone (\- and \e), font changes and \& dropped
plain=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\&//g' -e 's/\\e/\\/g' "$page")

head -n 5 "$page" | grep -q '^\.TH TEAMS\\-ATTENDANCE 1 ' || fail "no .TH TEAMS-ATTENDANCE 1 header"
for section in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS ENVIRONMENT '"EXIT STATUS"'; do
    grep -qx "\.SH $section" "$page" || fail "no .SH $section section"
done
sed -n '/^\.SH NAME$/{n;p;}' "$page" | grep -q '^teams\\-attendance \\- [a-zA-Z]' ||
    fail "the NAME line is not 'teams-attendance \\- what it does'"
synopsis=$(printf '%s\n' "$plain" | sed -n '/^\.SH SYNOPSIS$/,/^\.SH /p')

n=0
for opt in $(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
    printf '%s\n' "$plain" | grep -qF -- "$opt" || fail "option $opt of --help is not in the man page"
    n=$((n + 1))
done
[ "$n" -ge 10 ] || fail "only $n options found in --help"

for cmd in run convert check schema audit; do
    printf '%s\n' "$help" | grep -q "teams-attendance $cmd" || fail "--help lacks the $cmd command"
    printf '%s\n' "$synopsis" | grep -q "^teams-attendance \[*$cmd" ||
        fail "the SYNOPSIS lacks the $cmd command"
done

v=0
for var in $(printf '%s\n' "$help" | grep -oE '\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b' | sort -u); do
    printf '%s\n' "$plain" | grep -qw -- "$var" || fail "variable $var of --help is not in the man page"
    v=$((v + 1))
done
[ "$v" -ge 20 ] || fail "only $v variables found in --help"

if command -v groff >/dev/null 2>&1; then
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1) || fail "groff failed: $warnings"
    [ -z "$warnings" ] || fail "groff: $warnings"
fi
echo "check-man: $n options, $v variables and the commands of --help are in $page"
