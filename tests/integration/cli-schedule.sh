#!/usr/bin/env bash
# labforge schedule: plans of the fixture snapshots in JSON (keys of DESIGN §5.4, same bytes each
# run, same as the unit tests' golden files) and text, every mode and option, and bad snapshots:
# exit status 2, every problem named by field on stderr, nothing on stdout.
. "$(dirname "$0")/../lib.sh"
fx=$LF_TOP/tests/fixtures/scheduler
keys=mode,acted,placements,migrations,power_on,power_off,failures

sched() { "$LABFORGE" schedule "$@"; }

expect "design example, auto" 0 -- sched --snapshot "$fx/maintenance-evacuate.snapshot.json"
got=$(jq -r 'keys_unsorted | join(",")' "$T_OUT" 2>&1)
[ "$got" = "$keys" ] && pass "json keys without --explain" || fail "json keys" "got: $got"
cp "$T_OUT" "$T_TMP/a.json"
expect "same input again" 0 -- sched --snapshot "$fx/maintenance-evacuate.snapshot.json"
cmp -s "$T_OUT" "$T_TMP/a.json" && pass "same bytes" || fail "same bytes"
jq -e '.mode == "auto" and ([.migrations[].reason] | unique) == ["maintenance"]' "$T_OUT" \
	>/dev/null && pass "auto evacuates maintenance" || fail "auto evacuates" "$(cat "$T_OUT")"

# The CLI prints exactly what the engine's golden files hold.
for f in place-basic:place memory-balance:memory compute-hot:compute energy-power-off:energy \
	auto-class:auto powering-on-short:auto compute-saturated:compute; do
	name=${f%%:*} mode=${f##*:}
	expect "$name json" 0 -- sched --snapshot "$fx/$name.snapshot.json" --mode "$mode" --explain
	cmp -s "$T_OUT" "$fx/$name.plan.json" && pass "$name json = golden" \
		|| fail "$name json = golden" "$(diff "$T_OUT" "$fx/$name.plan.json" | head -20)"
	expect "$name text" 0 -- sched --snapshot "$fx/$name.snapshot.json" --mode "$mode" --explain \
		--format text
	cmp -s "$T_OUT" "$fx/$name.plan.txt" && pass "$name text = golden" \
		|| fail "$name text = golden" "$(diff "$T_OUT" "$fx/$name.plan.txt" | head -20)"
done

expect "snapshot on stdin" 0 -- sh -c "'$LABFORGE' schedule --snapshot - --mode place \
	< '$fx/place-basic.snapshot.json'"
jq -e '[.placements[].start_at_s] == [0, 0, 10, 10, 20] and (has("explain") | not)' "$T_OUT" \
	>/dev/null && pass "staggered starts from stdin" || fail "staggered starts" "$(cat "$T_OUT")"
expect "over-full is not an error" 0 -- sched --snapshot "$fx/place-overfull.snapshot.json" \
	--mode place
jq -e '(.failures | length) == 2 and (.migrations | length) == 0' "$T_OUT" >/dev/null \
	&& pass "over-full: failures, nothing else" || fail "over-full" "$(cat "$T_OUT")"
# A class arrives at 08:00 on a full cluster: auto wakes one host in class hours, place mode
# only says which one it would wake.
expect "class-hours shortage, auto" 0 -- sched --snapshot "$fx/capacity-short.snapshot.json"
jq -e '.power_on == ["off-b"] and .power_off == [] and (.failures | length) == 4' "$T_OUT" \
	>/dev/null && pass "auto wakes off-b in class hours" || fail "class-hours wake" "$(cat "$T_OUT")"
expect "class-hours shortage, place" 0 -- sched --snapshot "$fx/capacity-short.snapshot.json" \
	--mode place --explain --format text
grep -q "^power on: none$" "$T_OUT" && grep -q "auto or energy mode would power on off-b" \
	"$T_OUT" && pass "place mode explains the shortage" || fail "place explains" "$(cat "$T_OUT")"
expect "help" 0 -- sched --help
grep -q -- "--snapshot SNAP.json" "$T_OUT" && pass "help text" || fail "help text"

# Bad input: each one exit 2, a specific message, and nothing on stdout.
bad() {
	local name=$1 want=$2
	shift 3
	expect "$name" 2 "$want" -- "$@"
	[ -s "$T_OUT" ] && fail "$name: nothing on stdout" "stdout: $(head -c 300 "$T_OUT")" \
		|| pass "$name: nothing on stdout"
}
snap() { printf '%s\n' "$1" >"$T_TMP/bad.json"; }
head='"time": "2026-11-23T10:00:00Z"'
host='{"name": "kvm1", "state": "up", "cpus": 8, "mem_mb": 32768, "cpu_util": 10}'

bad "no --snapshot" "--snapshot is required" -- sched --mode place
bad "unknown mode" "--mode must be auto, memory, compute, energy or place" -- \
	sched --snapshot "$fx/place-basic.snapshot.json" --mode balance
bad "unknown format" "--format must be json or text" -- \
	sched --snapshot "$fx/place-basic.snapshot.json" --format yaml
bad "stray argument" "unexpected argument 'extra'" -- \
	sched --snapshot "$fx/place-basic.snapshot.json" extra
bad "missing file" "/nonexistent.json: cannot open" -- sched --snapshot /nonexistent.json

snap "{$head, \"hosts\": [$host], \"vms\": [{\"name\": \"pc01\", \"host\": \"kvm1\", \"mem_mb\": -1, \"vcpus\": 2, \"cpu_cores\": 0}]}"
bad "negative memory" "bad.json: vms[0].mem_mb: must not be negative (got -1)" -- \
	sched --snapshot "$T_TMP/bad.json"
snap "{$head, \"hosts\": [$host], \"vms\": [{\"name\": \"pc01\", \"host\": \"kvm7\", \"mem_mb\": 1, \"vcpus\": 2, \"cpu_cores\": 0}]}"
bad "unknown host" "bad.json: vms[0].host: no host named \"kvm7\" in hosts" -- \
	sched --snapshot "$T_TMP/bad.json"
snap "{$head, \"hosts\": [$host, $host], \"vms\": []}"
bad "duplicate host" "bad.json: hosts[1].name: \"kvm1\" is already used by hosts[0]" -- \
	sched --snapshot "$T_TMP/bad.json"
snap "{$head, \"hosts\": [{\"name\": \"kvm1\", \"state\": \"sleeping\", \"cpus\": 8, \"mem_mb\": 1, \"cpu_util\": 0}], \"vms\": []}"
bad "unknown state" "bad.json: hosts[0].state: unknown state \"sleeping\"" -- \
	sched --snapshot "$T_TMP/bad.json"
snap "{\"hosts\": [], \"vms\": []}"
bad "missing time" "bad.json: missing required key \"time\"" -- sched --snapshot "$T_TMP/bad.json"
snap "{$head, \"hosts\": [{\"name\": \"kvm1\", \"state\": \"up\", \"cpus\": \"eight\", \"mem_mb\": 1, \"cpu_util\": 0}], \"vms\": []}"
bad "wrong type" "bad.json: hosts[0].cpus: expected an integer, got a string" -- \
	sched --snapshot "$T_TMP/bad.json"
snap "{$head, \"hosts\": [$host], \"vms\": [], \"policy\": {\"reserve_slots\": 4}}"
bad "unknown policy key" "bad.json: policy.reserve_slots: unknown key" -- \
	sched --snapshot "$T_TMP/bad.json"
snap "{$head, \"hosts\": [{\"name\": \"kvm1\", \"state\": \"up\", \"powering_on\": true, \"cpus\": 8, \"mem_mb\": 1, \"cpu_util\": 0}], \"vms\": []}"
bad "powering on while up" "bad.json: hosts[0].powering_on: only an \"off\" host can be" -- \
	sched --snapshot "$T_TMP/bad.json"
snap "{$head, \"hosts\": [$host], \"vms\": [" && truncate -s -1 "$T_TMP/bad.json"
bad "malformed JSON" "bad.json:1: malformed JSON" -- sched --snapshot "$T_TMP/bad.json"

# Several problems at once: all of them reported.
snap "{$head, \"hosts\": [$host, $host], \"vms\": [{\"name\": \"pc01\", \"host\": \"kvm9\", \"mem_mb\": -5, \"vcpus\": 2, \"cpu_cores\": 0}]}"
expect "every problem reported" 2 -- sched --snapshot "$T_TMP/bad.json"
[ "$(wc -l <"$T_ERR")" -eq 3 ] && grep -q "hosts\[1\].name" "$T_ERR" \
	&& grep -q "vms\[0\].host" "$T_ERR" && grep -q "vms\[0\].mem_mb" "$T_ERR" \
	&& pass "three problems, three lines" || fail "three problems" "$(cat "$T_ERR")"

finish
