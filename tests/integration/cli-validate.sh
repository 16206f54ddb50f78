#!/usr/bin/env bash
# labforge validate: the summary line on the example room; exit status 2, every problem as
# FILE:LINE: message on stderr and nothing on stdout for each kind of bad manifest.
. "$(dirname "$0")/../lib.sh"
fx=$LF_TOP/tests/fixtures/manifest
cd "$LF_TOP" || exit 1

# expect_refused NAME FILE STDERR-SUBSTRING: exit 2, the message on stderr, stdout empty.
expect_refused() {
	local name=$1 file=$2 want=$3
	expect "$name" 2 "$want" -- "$LABFORGE" validate "$file"
	[ -s "$T_OUT" ] && fail "$name: stdout is empty" "stdout: $(head -c 500 "$T_OUT")"
}

expect "example room" 0 -- "$LABFORGE" validate examples/room-301/lab.xml
want="examples/room-301/lab.xml: room-301: 4 nodes (1 storage, 2 kvm, 1 login), 2 storage links, 1 template: OK"
if [ "$(cat "$T_OUT")" = "$want" ] && [ ! -s "$T_ERR" ]; then
	pass "example room summary"
else
	fail "example room summary" "stdout: $(cat "$T_OUT")" "stderr: $(cat "$T_ERR")"
fi

expect "combined roles summary" 0 -- "$LABFORGE" validate "$fx/full.xml"
grep -qx "$fx/full.xml: room-full: 3 nodes (1 storage, 2 kvm, 1 login), 2 storage links, 2 templates: OK" \
	"$T_OUT" && pass "combined role counted under each role" ||
	fail "combined role counted under each role" "stdout: $(cat "$T_OUT")"

expect "help" 0 -- "$LABFORGE" validate --help
grep -q "usage: labforge validate LAB.xml" "$T_OUT" && pass "help on stdout" || fail "help on stdout"
expect "no argument" 2 "expected one manifest file" -- "$LABFORGE" validate
expect "two arguments" 2 "expected one manifest file" -- "$LABFORGE" validate a.xml b.xml
expect "unknown option" 2 "usage: labforge validate" -- "$LABFORGE" validate --bogus x.xml

expect_refused "missing file" "$T_TMP/nope.xml" \
	"$T_TMP/nope.xml: cannot open: No such file or directory; check the path"
expect_refused "directory" "$T_TMP" "$T_TMP: is a directory"
expect_refused "malformed XML" "$fx/bad-malformed.xml" \
	"$fx/bad-malformed.xml:6: malformed XML: Opening and ending tag mismatch"
expect_refused "schema: missing attribute" "$fx/bad-missing-attribute.xml" \
	"$fx/bad-missing-attribute.xml:5: <node> lacks the required attribute 'mac'"
expect_refused "schema: bad value inside <policy>" "$fx/bad-policy-value.xml" \
	"$fx/bad-policy-value.xml:7: invalid mode=\"cpu\" on <balance>"
expect_refused "duplicate node name" "$fx/bad-duplicate-name.xml" \
	"$fx/bad-duplicate-name.xml:6: <node name=\"n1\">: name n1 is already given on line 5"
expect_refused "link to an unknown node" "$fx/bad-link-unknown-node.xml" \
	"$fx/bad-link-unknown-node.xml:10: <link b=\"k2:52:54:00:00:00:12\">: there is no node named 'k2'"
expect_refused "link between two storage nodes" "$fx/bad-link-roles.xml" \
	"$fx/bad-link-roles.xml:12: <link>: joins s1 and s2, both storage nodes"

# Every problem, one per line, each FILE:LINE: message.
expect "every problem reported" 2 -- "$LABFORGE" validate "$fx/bad-policy.xml"
n=$(grep -c "^$fx/bad-policy.xml:[0-9]*: " "$T_ERR")
[ "$n" -eq 9 ] && [ "$(wc -l <"$T_ERR")" -eq 9 ] && pass "nine problems, nine lines" ||
	fail "nine problems, nine lines" "stderr: $(cat "$T_ERR")"

finish
