#!/usr/bin/env bash
# Runs a layer of labforge's tests and prints one closing "N passed, N failed, N skipped" line.
#   tests/run-tests.sh unit|integration|fuzz|lab|all
# LF_BUILD: build dir of the sanitizer build (unit, integration); LF_FUZZ_BUILD: of the fuzzers;
# LF_LAB_BUILD: of the plain build used inside qemu guests.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export LF_TOP=$top
build=${LF_BUILD:-build/san}
case $build in /*) ;; *) build=$top/$build ;; esac
export LF_BUILD=$build
fuzz_build=${LF_FUZZ_BUILD:-build/fuzz}
case $fuzz_build in /*) ;; *) fuzz_build=$top/$fuzz_build ;; esac
lab_build=${LF_LAB_BUILD:-build}
case $lab_build in /*) ;; *) lab_build=$top/$lab_build ;; esac
export LF_LAB_BUILD=$lab_build
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0 skipped=0
failures=()
log_dir=$(mktemp -d /tmp/lf-tests-XXXXXX)
trap 'rm -rf "$log_dir"' EXIT

# Runs one test program; adds up its closing line, or counts it as one test by exit status.
run_one() {
	local name=$1; shift
	local log=$log_dir/$(echo "$name" | tr '/' '_').log
	local start=$SECONDS rc
	"$@" >"$log" 2>&1
	rc=$?
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
	local p=0 f=0 s=0
	if [ -n "$line" ]; then
		p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
		f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
		s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped$/\1/p'); s=${s:-0}
		# A crash after the summary (sanitizer report at exit) still fails the program.
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ "$f" -eq 0 ]; then f=1; fi
	else
		case $rc in 0) p=1 ;; 77) s=1 ;; *) f=1 ;; esac
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	local status=ok
	[ "$f" -gt 0 ] && status=FAIL
	[ "$f" -eq 0 ] && [ "$p" -eq 0 ] && status=skip
	printf '%-6s %-40s %3d passed %2d failed %2d skipped  (%ds)\n' "$status" "$name" "$p" "$f" "$s" $((SECONDS - start))
	if [ "$status" = FAIL ]; then
		failures+=("$name")
		sed 's/^/    | /' "$log" | tail -n 80
	elif [ "$status" = skip ]; then
		grep -iE 'skip' "$log" | head -n 3 | sed 's/^/    | /'
	fi
}

run_unit() {
	local t
	for t in "$build"/tests/test-*; do
		[ -x "$t" ] || continue
		# test-*-live binaries need hosts an integration script sets up; that script runs them.
		case $t in *-live) continue ;; esac
		run_one "unit/$(basename "$t")" "$t"
	done
}

run_scripts() {
	local dir=$1 t
	for t in "$top"/tests/"$dir"/*.sh; do
		[ -f "$t" ] || continue
		case ${t##*/} in lib-*) continue ;; esac # helpers the tests source
		run_one "$dir/$(basename "$t" .sh)" bash "$t"
	done
}

run_fuzz() {
	local f name corpus
	for f in "$fuzz_build"/fuzz/fuzz-*; do
		[ -x "$f" ] || continue
		name=$(basename "$f")
		corpus=$top/tests/fuzz/corpus/$name
		[ -d "$corpus" ] || { echo "missing seed corpus $corpus"; failed=$((failed + 1)); continue; }
		# -runs=0 executes every seed once: a regression check, not a fuzzing session.
		run_one "fuzz/$name" "$f" -runs=0 "$corpus"
	done
}

mode=${1:-all}
case $mode in
unit) run_unit ;;
integration) run_scripts integration ;;
fuzz) run_fuzz ;;
lab) run_scripts lab ;;
all) run_unit; run_scripts integration; run_fuzz; run_scripts lab ;;
*) echo "usage: $0 unit|integration|fuzz|lab|all" >&2; exit 2 ;;
esac

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
