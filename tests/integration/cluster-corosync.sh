#!/usr/bin/env bash
# labforged with real corosync (root): three nodes of tests/lib-cluster.sh (each its own network,
# mount and PID namespace; each labforged writes corosync.conf and starts corosync itself) with
# libvirt's test driver on the two VM hosts. Asserted through `labforge status --format json`,
# the CLI's answers and the daemons' logs: all quorate with the login node as leader; bad CPG
# messages (cpg-send.c, compiled here, sends them from a node's namespace) dropped with their
# reason and no change; `labforge vm start --count 10` through a node that is not the leader
# places the VMs as the engine says (fewest VMs first) and starts them 2 s apart; reset, stop,
# delete, maintenance and balance now, and bad requests refused with nothing changed; the
# leader killed -> the lowest remaining node id leads (2 of 3 are quorate), marks the dead node
# failed and knows every VM where it was; the node back -> it leads again; one VM host cut off
# (its veth down) -> it says "quorate": false, has no leader and acts no more, destroys its VMs
# after 30 s (self-fence), while the other two stay quorate, mark it failed and start its VMs
# on the other host only after it has been out for 60 s. Every address lives in namespaces this
# test creates; the trap tears everything down.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-cluster.sh"
lfc_network 3

# --- the lab: node2 is the login node (the leader by preference, not by lowest id) ---
cat >"$T_TMP/lab.xml" <<'EOF'
<lab name="lfc-test">
  <appliance interface="eth0" address="10.213.0.1/24"/>
  <network><management subnet="10.213.0.0/24"/></network>
  <node name="node1" role="kvm" mac="52:54:00:21:30:01" address="10.213.0.11"/>
  <node name="node2" role="login" mac="52:54:00:21:30:02" address="10.213.0.12"/>
  <node name="node3" role="kvm" mac="52:54:00:21:30:03" address="10.213.0.13"/>
  <policy>
    <!-- Class hours all week, so the cycle balances memory whenever the test runs. -->
    <class-hours days="mon-sun" from="00:00" to="23:59"/>
    <compute sample="2s" window="1m"/>
    <boot stagger="2s" batch="1"/>
  </policy>
  <template name="tiny" image="tiny.qcow2" memory="64" vcpus="1"/>
</lab>
EOF
lfc_configure

# --- the cluster forms ---
for i in 1 2 3; do start $i; done
wait_for "all three quorate, login node2 leads" \
	'.quorate == true and .leader == "node2"' 1 2 3
wait_for "every node sees every host up" \
	"$(host_state node1 up) and $(host_state node2 up) and $(host_state node3 up)" 1 2 3
status 1 >"$T_TMP/s1.json"
jq -e 'keys_unsorted == ["node","quorate","leader","mode","next_action","hosts","vms"] and
	.node == "node1" and (.hosts | map(.name)) == ["node1","node2","node3"] and
	(.hosts[] | select(.name == "node3") | .role) == "kvm" and .vms == []' \
	"$T_TMP/s1.json" >/dev/null && pass "status json shape" || fail "status json shape" \
	"$(cat "$T_TMP/s1.json")"
grep -q "corosync -f -c /etc/corosync/corosync.conf" "$T_TMP/n1/labforged.log" &&
	pass "labforged started corosync" || fail "labforged started corosync"
grep -q "ring0_addr: 10.213.0.13" "$T_TMP/n1/etc/corosync.conf" &&
	grep -q "crypto_cipher: aes256" "$T_TMP/n1/etc/corosync.conf" &&
	pass "corosync.conf written from the manifest" || fail "corosync.conf written"
expect "text status" 0 -- "$LABFORGE" status --state-dir "$T_TMP/n3/state"
grep -q "node node3: quorate, leader node2" "$T_OUT" && pass "text names quorum and leader" ||
	fail "text names quorum and leader" "$(cat "$T_OUT")"

# --- bad messages from a peer: each dropped with its reason, nothing changes ---
# frame TYPE VERSION JSON: a message with a header announcing the JSON's length.
frame() { perl -e 'print "LFCM", pack("CCnN", $ARGV[1], $ARGV[0], 0, length $ARGV[2]), $ARGV[2]' "$@"; }
report='"seq":1,"time":1,"maintenance":false,"mem_mb":1000,"mem_available_mb":10,"vms":[]'
m=$T_TMP/msg
mkdir -p "$m"
printf 'hello, this is no labforge message' >"$m/1-garbage"
frame 1 2 '{}' >"$m/2-version"
perl -e 'print "LFCM", pack("CCnN", 1, 1, 0, 1200000), " " x 1200000' >"$m/3-oversized"
frame 1 1 "{\"node\":\"node3\",\"cpus\":2,$report}" >"$m/4-spoofed"
frame 1 1 "{\"node\":\"node1\",\"cpus\":0,$report}" >"$m/5-bad-field"
# A state that is well formed but not from the leader (node2): ignored.
frame 2 1 '{"node":"node1","seq":9,"time":1,"mode":"energy","next_action":"evil",
  "hosts":[{"name":"node1","state":"up"},{"name":"node3","state":"failed"}],"last_run":{},
  "vms":[{"name":"evil",
  "host":"node1","state":"running","vcpus":1,"mem_mb":1,"pinned":false,
  "last_migrated":null}]}' >"$m/6-state-not-leader"
# From the leader's node, but malformed: refused.
frame 2 1 '{"node":"node2","seq":9,"time":1,"mode":"energy","next_action":"evil","x":1,
  "hosts":[{"name":"node3","state":"failed"}],"last_run":{},"vms":[]}' >"$m/7-state-bad"
if cc -O2 -o "$T_TMP/cpg-send" "$LF_TOP/tests/integration/cpg-send.c" -lcpg &&
	nsenter -t "$(find_init 1)" -n -m "$T_TMP/cpg-send" "$m"/[1-6]-* &&
	nsenter -t "$(find_init 2)" -n -m "$T_TMP/cpg-send" "$m/7-state-bad"; then
	pass "bad messages sent"
else
	fail "bad messages sent"
fi
for want in 'node 1: not a labforge message (no "LFCM" magic)' \
	'node 1: message format version 2, but this labforged speaks version 1' \
	'node 1: payload larger than the 1048576 bytes allowed' \
	"node 1: it names the sender 'node3', but node 1 is 'node1'" \
	'node 1: cpus: 0 is out of range' \
	'node 2: x: unknown key'; do
	for _ in $(seq 20); do grep -qF "Dropped: CPG message from $want" "$T_TMP/n3/labforged.log" &&
		break; sleep 0.5; done
	grep -qF "Dropped: CPG message from $want" "$T_TMP/n3/labforged.log" &&
		pass "dropped: $want" || fail "dropped: $want" "$(grep Dropped "$T_TMP/n3/labforged.log")"
done
grep -qF "Ignored the state message of node1: the leader here is node2." \
	"$T_TMP/n3/labforged.log" && pass "a state message not from the leader is ignored" ||
	fail "a state message not from the leader is ignored"
wait_for "bad messages changed nothing" \
	"$(host_state node3 up) and .vms == [] and .next_action != \"evil\" and .leader == \"node2\"" \
	1 3

# --- VMs (libvirt's test driver on node1 and node3): started through a node that is not the
# leader (node1 forwards the request to node2), placed and staggered as the engine says ---
cli() { local i=$1; shift; "$LABFORGE" "$@" --state-dir "$T_TMP/n$i/state"; }
vm_host() { echo "(.vms[] | select(.name == \"$1\") | .host)"; }
vm_state() { echo "(.vms[] | select(.name == \"$1\") | .state)"; }
start_line=$(wc -l <"$T_TMP/n2/labforged.log")
expect "vm start through a node that is not the leader" 0 -- cli 1 vm start tiny --count 10 --prefix pc
grep -q "^10 VM(s) of template tiny wait to be placed: pc01 .. pc10$" "$T_OUT" &&
	pass "the leader's answer names the VMs" || fail "the leader's answer names the VMs" "$(cat "$T_OUT")"
# The time each VM is first seen running, to see the stagger.
declare -A first_run=()
for _ in $(seq $((WAIT * 4))); do
	now=$(date +%s.%N)
	for v in $(status 2 | jq -r '.vms[] | select(.state == "running") | .name' 2>/dev/null); do
		[ -n "${first_run[$v]:-}" ] || first_run[$v]=$now
	done
	[ "${#first_run[@]}" -ge 10 ] && break
	sleep 0.25
done
wait_for "ten VMs run, five on each VM host (the fewest-VMs rule)" \
	'([.vms[] | select(.state == "running")] | length) == 10 and
	 ([.vms[] | select(.host == "node1")] | length) == 5 and
	 ([.vms[] | select(.host == "node3")] | length) == 5 and
	 ((.hosts[] | select(.name == "node2") | .vms) == 0)' 1 2 3
# The engine staggers the i-th start of the cycle by i * boot_stagger_s (batch 1): 0, 2, .. 18 s.
after=$(tail -n +"$((start_line + 1))" "$T_TMP/n2/labforged.log")
stagger=$(grep -oE "Start pc[0-9]+ \(template tiny\) on node[13] in [0-9]+ s" <<<"$after" |
	sed -E 's/Start pc([0-9]+) .* in ([0-9]+) s/\1 \2/' | sort -n | awk '{printf "%s:%s ", $1, $2}')
[ "$stagger" = "01:0 02:2 03:4 04:6 05:8 06:10 07:12 08:14 09:16 10:18 " ] &&
	pass "starts staggered 2 s apart as the engine says" ||
	fail "starts staggered 2 s apart as the engine says" "$stagger" "$(tail -n 30 <<<"$after")"
span=$(printf '%s\n' "${first_run[@]}" | sort -n | awk 'NR == 1 {a = $1} {b = $1} END {printf "%d", b - a}')
[ "${#first_run[@]}" -eq 10 ] && [ "$span" -ge 12 ] &&
	pass "the VMs came up over the stagger, not at once ($span s)" ||
	fail "the VMs came up over the stagger, not at once" "${#first_run[@]} seen, over $span s"
expect "status text lists the VMs" 0 -- cli 3 status
grep -qE "^pc10 +node[13] +running$" "$T_OUT" && pass "status text shows pc10 running" ||
	fail "status text shows pc10 running" "$(cat "$T_OUT")"

# Reset, stop, delete (the reset: destroyed and started again from its template).
host01=$(status 2 | jq -r "$(vm_host pc01)")
reset_line=$(wc -l <"$T_TMP/n2/labforged.log")
expect "vm reset" 0 -- cli 3 vm reset pc01
for _ in $(seq $((WAIT * 2))); do
	tail -n +"$((reset_line + 1))" "$T_TMP/n2/labforged.log" | grep -q "The reset of pc01 is done." && break
	sleep 0.5
done
tail -n +"$((reset_line + 1))" "$T_TMP/n2/labforged.log" | grep -q "The reset of pc01 is done." &&
	pass "the reset of pc01 is done" || fail "the reset of pc01 is done" "$(tail -n 20 "$T_TMP/n2/labforged.log")"
n=${host01#node}
[ "$(grep -c "^labforged: pc01 started.$" "$T_TMP/n$n/labforged.log")" -eq 2 ] &&
	pass "pc01 was started again on $host01" || fail "pc01 was started again on $host01" \
	"$(grep pc01 "$T_TMP/n$n/labforged.log")"
wait_for "pc01 runs on the same host after its reset" \
	"$(vm_state pc01) == \"running\" and $(vm_host pc01) == \"$host01\"" 2
expect "vm stop" 0 -- cli 2 vm stop pc02
wait_for "pc02 is stopped" "$(vm_state pc02) == \"stopped\"" 1 2 3
expect "vm delete" 0 -- cli 1 vm delete pc03
wait_for "pc03 is gone" '[.vms[].name] | index("pc03") == null and length == 9' 1 2 3

# Bad input: a clear error, exit status 2, nothing changes.
before=$(status 2 | jq -c '[.vms[] | [.name, .host, .state]]')
expect "unknown VM" 2 "unknown VM 'pc99'; 'labforge status' lists the cluster's VMs" -- \
	cli 1 vm reset pc99
expect "unknown template" 2 "unknown template 'huge'" -- cli 1 vm start huge --count 2
expect "bad prefix" 2 "--prefix 'PC_' does not make VM names like PC_01" -- \
	cli 2 vm start tiny --prefix PC_
expect "count out of range (leader)" 2 "count: 100000 is out of range" -- \
	cli 2 vm start tiny --count 100000
expect "count not a number (CLI)" 2 "--count must be a positive number" -- \
	cli 2 vm start tiny --count lots
expect "unknown host" 2 "unknown host 'node2'; maintenance is for the manifest's VM hosts" -- \
	cli 1 host maintenance node2 on
expect "unknown vm action" 2 "unknown action 'pause'" -- cli 1 vm pause pc01
expect "unknown balance mode" 2 "--mode must be place, memory, compute, energy or auto" -- \
	cli 1 balance now --mode fast
expect "a pending-only action on a running VM name" 2 "unknown VM 'node1'" -- cli 1 vm stop node1
after_bad=$(status 2 | jq -c '[.vms[] | [.name, .host, .state]]')
[ "$before" = "$after_bad" ] && pass "bad requests changed nothing" ||
	fail "bad requests changed nothing" "$before" "$after_bad"

# balance now: the plan at once; --dry-run does nothing.
expect "balance now --dry-run" 0 -- cli 1 balance now --mode memory --dry-run --format json
jq -e '.ok == true and .plan.mode == "memory" and (.plan.migrations | type) == "array"' \
	"$T_OUT" >/dev/null && pass "balance answers with the engine's plan" ||
	fail "balance answers with the engine's plan" "$(cat "$T_OUT")"

# Maintenance: node3 gets no new VMs (the test driver cannot migrate, so its VMs stay).
expect "host maintenance on" 0 -- cli 1 host maintenance node3 on
wait_for "node3 is in maintenance" "$(host_state node3 maintenance)" 1 2 3
expect "two more VMs" 0 -- cli 2 vm start tiny --count 2 --prefix pc
grep -q "pc03 .. pc11" "$T_OUT" && pass "new VMs take the free names (pc03, pc11)" ||
	fail "new VMs take the free names (pc03, pc11)" "$(cat "$T_OUT")"
wait_for "the new VMs go to node1 only" \
	"$(vm_host pc03) == \"node1\" and $(vm_host pc11) == \"node1\" and $(vm_state pc11) == \"running\"" 2
expect "host maintenance off" 0 -- cli 3 host maintenance node3 off
wait_for "node3 is up again" "$(host_state node3 up)" 1 2 3
vms_before_kill=$(status 1 | jq -c '[.vms[] | [.name, .host]]')

# --- the leader dies (labforged and corosync: its whole PID namespace) ---
stop_node 2 KILL || fail "node2 killed"
wait_for "after the leader died: node1 leads, 2 of 3 quorate" \
	'.quorate == true and .leader == "node1"' 1 3
wait_for "the dead node is failed" "$(host_state node2 failed)" 1 3
vms_after_kill=$(status 1 | jq -c '[.vms[] | [.name, .host]]')
[ "$vms_after_kill" = "$vms_before_kill" ] && [ "$(jq length <<<"$vms_after_kill")" -eq 11 ] &&
	pass "the new leader knows every VM where it was" ||
	fail "the new leader knows every VM where it was" "$vms_before_kill" "$vms_after_kill"

# --- it comes back (its corosync is started again by its labforged) ---
start 2
wait_for "node2 back: it leads again" '.quorate == true and .leader == "node2"' 1 2 3
wait_for "node2 up again everywhere" "$(host_state node2 up)" 1 2 3

# --- node3 is cut off ---
on3=$(status 2 | jq -r '[.vms[] | select(.host == "node3" and .state == "running") | .name] | join(" ")')
cut_line=$(wc -l <"$T_TMP/n3/labforged.log")
ip -n "$(ns 3)" link set eth0 down
wait_for "the cut-off node has no quorum and no leader" \
	'.quorate == false and .leader == null' 3
wait_for "the other two stay quorate under node2" '.quorate == true and .leader == "node2"' 1 2
wait_for "the majority marks node3 failed" "$(host_state node3 failed)" 1 2
# What the minority shows is what it last knew: it marked nobody failed (it takes no action).
status 3 >"$T_TMP/s3.json"
jq -e '[.hosts[].state] == ["up","up","up"]' "$T_TMP/s3.json" >/dev/null &&
	pass "the minority changed nothing" || fail "the minority changed nothing" \
	"$(cat "$T_TMP/s3.json")"
after=$(tail -n +"$((cut_line + 1))" "$T_TMP/n3/labforged.log")
grep -q "No quorum: this node takes no cluster action" <<<"$after" &&
	pass "the minority says it takes no action" ||
	fail "the minority says it takes no action" "$(tail -n 20 <<<"$after")"
! grep -qE "This node is the leader|Scheduler plan" <<<"$after" &&
	pass "the minority never acts as leader" ||
	fail "the minority never acts as leader" "$(grep -E -B5 -A5 "This node is the leader|Scheduler plan" <<<"$after")"

# node3's VMs: destroyed there after 30 s without quorum (self-fence), started on node1 by the
# majority only after node3 has been out for 60 s.
for _ in $(seq 120); do grep -q "Self-fence" "$T_TMP/n3/labforged.log" && break; sleep 1; done
fenced=$(grep -c "^labforged: Self-fence: no quorum for" "$T_TMP/n3/labforged.log")
[ "$fenced" -eq "$(wc -w <<<"$on3")" ] && pass "the cut-off node destroyed its $fenced VMs itself" ||
	fail "the cut-off node destroyed its VMs itself" "$on3" "$(grep -i fence "$T_TMP/n3/labforged.log")"
all_on_node1='[.vms[] | select(.state == "running" and .host == "node1")] | length == 10'
status 1 | jq -e "$all_on_node1" >/dev/null &&
	fail "node3's VMs wait until it is known off" "$(status 1 | jq -c .vms)" ||
	pass "node3's VMs wait until it is known off"
WAIT=120 wait_for "then they run on node1 (10 running there)" "$all_on_node1" 1 2
grep -q "node3 is failed (out of the cluster for [0-9]* s): its $(wc -w <<<"$on3") VM(s) start elsewhere." \
	"$T_TMP/n2/labforged.log" && pass "the leader says why node3's VMs moved" ||
	fail "the leader says why node3's VMs moved" "$(grep node3 "$T_TMP/n2/labforged.log" | tail)"

# --- bad input to the CLI changes nothing ---
expect "unknown format" 2 "--format must be json or text" -- \
	"$LABFORGE" status --state-dir "$T_TMP/n1/state" --format yaml
expect "no daemon there" 1 "no labforged answers" -- \
	"$LABFORGE" status --state-dir "$T_TMP/nowhere"
expect "config dir without node.conf" 2 "node.conf: cannot open" -- \
	"$LABFORGED" --config "$T_TMP/nowhere" --state-dir "$T_TMP/x"

finish
