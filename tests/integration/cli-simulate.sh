#!/usr/bin/env bash
# labforge simulate: a shipped classroom day in text and JSON (both engines, the bound, ratios;
# same bytes each run), one engine alone, a policy file, and bad input: exit status 2, the file
# and field named on stderr, nothing on stdout.
. "$(dirname "$0")/../lib.sh"
fx=$LF_TOP/tests/fixtures/simulate
small=(--trace "$fx/small.trace.json" --cluster "$fx/small.cluster.json")

sim() { "$LABFORGE" simulate "$@"; }

expect "small day, json" 0 -- sim "${small[@]}" --format json
jq -e '(.engines | keys) == ["labforge", "plain"] and .lower_bound.host_hours > 0
	and (.ratios | keys) == ["labforge/lower_bound", "labforge/plain", "plain/lower_bound"]
	and .engines.labforge.vms_started > 0' "$T_OUT" >/dev/null \
	&& pass "json: both engines, bound, ratios" || fail "json shape" "$(head -c 2000 "$T_OUT")"
jq -e '.ratios."labforge/lower_bound".host_hours ==
	((.engines.labforge.host_hours / .lower_bound.host_hours) * 1000 | round / 1000)' \
	"$T_OUT" >/dev/null && pass "ratio = engine / bound" || fail "ratio" "$(cat "$T_OUT")"
cp "$T_OUT" "$T_TMP/a.json"
expect "same day again" 0 -- sim "${small[@]}" --format json
cmp -s "$T_OUT" "$T_TMP/a.json" && pass "deterministic" || fail "deterministic"

expect "text" 0 -- sim "${small[@]}"
grep -q '^migrations  .* [0-9]\+ \+[0-9]\+$' "$T_OUT" && grep -q '^labforge / plain: migrations' \
	"$T_OUT" && pass "text table and ratios" || fail "text" "$(cat "$T_OUT")"

expect "one engine" 0 -- sim "${small[@]}" --engine plain --format json
jq -e '(.engines | keys) == ["plain"] and (.ratios | keys) == ["plain/lower_bound"]' "$T_OUT" \
	>/dev/null && pass "plain alone" || fail "plain alone" "$(cat "$T_OUT")"

# A policy with no reserve and no power-off interval lets energy saving act sooner.
echo '{"reserve_vm_slots": 0, "min_interval_s": 0}' >"$T_TMP/policy.json"
expect "policy file" 0 -- sim "${small[@]}" --policy "$T_TMP/policy.json" --format json
jq -e --slurpfile d "$T_TMP/a.json" '.engines.labforge != $d[0].engines.labforge' "$T_OUT" \
	>/dev/null && pass "policy changes the day" || fail "policy has no effect"

expect "help" 0 -- sim --help
grep -q -- "--trace TRACE.json --cluster CLUSTER.json" "$T_OUT" && pass "help text" \
	|| fail "help text"

bad() {
	local name=$1 want=$2
	shift 2
	expect "$name" 2 "$want" -- "$@"
	[ -s "$T_OUT" ] && fail "$name: nothing on stdout" "stdout: $(head -c 300 "$T_OUT")" \
		|| pass "$name: nothing on stdout"
}
printf '{"start": "2026-11-23T00:00:00Z", "duration_s": 600, "vms": [
  {"name": "a", "mem_mb": 1024, "vcpus": 1, "start_s": 0, "cpu": [[0, 2]]}]}' >"$T_TMP/t.json"
printf '{"hosts": [{"name": "k1", "cpus": 4, "mem_mb": 4096, "reserved_mb": 8192}]}' \
	>"$T_TMP/c.json"
echo '{"cpu_low": 90}' >"$T_TMP/p.json"
bad "no arguments" "--trace and --cluster are required" sim
bad "missing trace" "nope.json" sim --trace "$T_TMP/nope.json" --cluster "$fx/small.cluster.json"
bad "cores above vcpus" "t.json: vms[0].cpu[0]: 2 cores is outside 0 .. vcpus (1)" \
	sim --trace "$T_TMP/t.json" --cluster "$fx/small.cluster.json"
bad "reserved above memory" "c.json: hosts[0].reserved_mb: 8192 is more than" \
	sim "--trace=$fx/small.trace.json" --cluster "$T_TMP/c.json"
bad "bad policy" "p.json: policy.cpu_low: 90 must be below cpu_high" \
	sim "${small[@]}" --policy "$T_TMP/p.json"
bad "bad engine" "--engine must be labforge or plain" sim "${small[@]}" --engine fifo
bad "bad format" "--format must be text or json" sim "${small[@]}" --format yaml
# Every file's problems at once.
expect "all problems at once" 2 -- sim --trace "$T_TMP/t.json" --cluster "$T_TMP/c.json" \
	--policy "$T_TMP/p.json"
[ "$(grep -c 'json: ' "$T_ERR")" -ge 3 ] && pass "three files reported" \
	|| fail "three files reported" "$(cat "$T_ERR")"
finish
