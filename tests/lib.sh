# Helpers for shell tests (tests/integration/*.sh, tests/lab/*.sh): source this file, call
# check/expect_* for each case, and end with `finish`, which prints the closing
# "N passed, N failed, N skipped" line that tests/run-tests.sh adds up.
set -u
LF_TOP=${LF_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LF_BUILD=${LF_BUILD:-$LF_TOP/build/san}
LABFORGE=$LF_BUILD/bin/labforge
LABFORGE_INSTALL=$LF_BUILD/bin/labforge-install
_t_pass=0 _t_fail=0 _t_skip=0
T_TMP=$(mktemp -d /tmp/lf-shtest-XXXXXX)
trap 'rm -rf "$T_TMP"' EXIT

pass() { echo "PASS: $1"; _t_pass=$((_t_pass + 1)); }
fail() { echo "FAIL: $1"; shift; [ $# -gt 0 ] && printf '  %s\n' "$@"; _t_fail=$((_t_fail + 1)); }
skip() { echo "SKIP: $1 ($2)"; _t_skip=$((_t_skip + 1)); }

# run CMD...: runs a command, leaving its exit status in $T_RC, output in $T_OUT/$T_ERR files.
T_OUT=$T_TMP/out T_ERR=$T_TMP/err T_RC=0
run() { "$@" >"$T_OUT" 2>"$T_ERR"; T_RC=$?; }

# expect NAME STATUS [STDERR-SUBSTRING] -- CMD...: passes when CMD exits with STATUS and, when
# given, its stderr contains the substring.
expect() {
	local name=$1 status=$2 want=
	shift 2
	if [ "$1" != -- ]; then want=$1; shift; fi
	shift
	run "$@"
	if [ "$T_RC" -ne "$status" ]; then
		fail "$name" "exit status $T_RC, expected $status" "stderr: $(head -c 2000 "$T_ERR")"
	elif [ -n "$want" ] && ! grep -qF -- "$want" "$T_ERR"; then
		fail "$name" "stderr lacks: $want" "stderr: $(head -c 2000 "$T_ERR")"
	else
		pass "$name"
	fi
}

finish() {
	echo "$_t_pass passed, $_t_fail failed, $_t_skip skipped"
	[ "$_t_fail" -eq 0 ]
}
