#!/usr/bin/env bash
# Host power with real corosync (issue 6, item 5): three nodes of tests/lib-cluster.sh (node2
# the login node and leader, node1 and node3 VM hosts with libvirt's test driver) outside class
# hours. Energy saving powers the idlest VM host off: node1 runs its power_off_command (here:
# SIGTERM to its labforged, PID 1 of its namespace) and the leader confirms the power-off when
# node1 leaves the cluster (state "off", not "failed"). A VM started then leaves fewer free
# slots than the reserve: the leader sends node1's Wake-on-LAN magic packet (received here, in
# node1's namespace, on UDP port 9); the test "powers node1 on" (starts its labforged) and the
# leader confirms it when node1 joins. Every address lives in namespaces this test creates.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-cluster.sh"
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
lfc_network 3

# A host's VM slots as the scheduler counts them: its memory (this machine's, for every node)
# less the 1024 MiB reserved, in VMs of the typical 2048 MiB. The reserve is one host's slots:
# one host may go off, and one VM more on the other makes capacity short.
mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
slots=$(((mem_mb - 1024) / 2048))
[ "$slots" -ge 2 ] || { echo "SKIP: needs 5 GiB of memory for two VM slots a host"; exit 77; }
# Class hours: half an hour twelve hours from now, so the test runs well outside them.
from=$(printf '%02d:00' $((($(date -u +%-H) + 12) % 24)))
to=${from%:00}:30
cat >"$T_TMP/lab.xml" <<EOF
<lab name="lfc-power">
  <appliance interface="eth0" address="10.213.0.1/24"/>
  <network><management subnet="10.213.0.0/24"/></network>
  <node name="node1" role="kvm" mac="52:54:00:21:31:01" address="10.213.0.11"/>
  <node name="node2" role="login" mac="52:54:00:21:31:02" address="10.213.0.12"/>
  <node name="node3" role="kvm" mac="52:54:00:21:31:03" address="10.213.0.13"/>
  <policy>
    <class-hours days="mon-sun" from="$from" to="$to"/>
    <compute sample="2s" window="1m"/>
    <energy reserve-vm-slots="$slots"/>
    <min-interval>1m</min-interval>
  </policy>
  <template name="std" image="std.qcow2" memory="2048" vcpus="1"/>
</lab>
EOF
lfc_configure

for i in 1 2 3; do start $i; done
wait_for "the cluster forms under node2" '.quorate == true and .leader == "node2"' 1 2 3
wait_for "both VM hosts are up" "$(host_state node1 up) and $(host_state node3 up)" 2
WAIT=90 wait_for "energy saving powers node1 off; the leader sees it off, not failed" \
	"$(host_state node1 off) and $(host_state node3 up)" 2
grep -q "^labforged: Powering off as the leader asked: /bin/kill -TERM 1$" "$T_TMP/n1/labforged.log" &&
	pass "node1 ran its power_off_command" ||
	fail "node1 ran its power_off_command" "$(tail -n 20 "$T_TMP/n1/labforged.log")"
grep -q "^labforged: node1 is off (confirmed: it left the cluster).$" "$T_TMP/n2/labforged.log" &&
	pass "the leader confirmed the power-off by membership" ||
	fail "the leader confirmed the power-off by membership" "$(grep node1 "$T_TMP/n2/labforged.log")"
[ -z "$(find_init 1)" ] && pass "node1's labforged is gone" || fail "node1's labforged is gone"

# node1's "network card": what arrives on UDP port 9 in its namespace.
ip netns exec "$(ns 1)" timeout 120 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9))
data, peer = s.recvfrom(2048)
open(sys.argv[1], "w").write(data.hex() + " " + peer[0] + "\n")' "$T_TMP/wol" &
listener=$!
sleep 1
expect "a VM more" 0 -- "$LABFORGE" vm start std --state-dir "$T_TMP/n3/state"
wait "$listener"
want="ffffffffffff$(printf '525400213101%.0s' $(seq 16)) 10.213.0.12"
[ "$(cat "$T_TMP/wol" 2>/dev/null)" = "$want" ] &&
	pass "the leader sent node1's magic packet (capacity short of the reserve)" ||
	fail "the leader sent node1's magic packet" "got: $(cat "$T_TMP/wol" 2>&1)" \
		"$(grep -i 'power\|node1' "$T_TMP/n2/labforged.log" | tail -n 10)"
grep -q "^labforged: Powering node1 on (Wake-on-LAN).$" "$T_TMP/n2/labforged.log" &&
	pass "the leader says it powers node1 on" || fail "the leader says it powers node1 on"

# The PC wakes up: its labforged starts and joins.
start 1
wait_for "node1 is up again" "$(host_state node1 up)" 1 2 3
for _ in $(seq 20); do
	grep -q "^labforged: node1 is on (confirmed: it joined the cluster).$" "$T_TMP/n2/labforged.log" &&
		break
	sleep 0.5
done
grep -q "^labforged: node1 is on (confirmed: it joined the cluster).$" "$T_TMP/n2/labforged.log" &&
	pass "the leader confirmed the power-on by membership" ||
	fail "the leader confirmed the power-on by membership" "$(grep node1 "$T_TMP/n2/labforged.log")"
wait_for "the VM runs on node3" '(.vms[] | select(.name == "std01")) as $v |
	$v.host == "node3" and $v.state == "running"' 2
finish
