# shellcheck shell=bash
# A cluster of labforged nodes for integration tests (root): nodes 1..N, each in its own
# network namespace (veth to a bridge in a "switch" namespace, 10.213.0.1N/24), mount namespace
# (its own /etc/corosync, /run, /var/lib/corosync, /var/log/corosync, /dev/shm) and PID
# namespace (killing its labforged kills its corosync too), with libvirt's test driver. Source
# after tests/lib.sh; the caller writes $T_TMP/lab.xml (nodes node1..nodeN at 10.213.0.1N), then:
#   lfc_network N; (write lab.xml); lfc_configure; start 1; ...; wait_for NAME FILTER NODE...
# The trap tears everything down.
LABFORGED=$(realpath -m "$LF_BUILD/bin/labforged")
WAIT=${WAIT:-60} # seconds for the cluster to settle after each step

if [ "$(id -u)" -ne 0 ] || ! command -v corosync >/dev/null || ! command -v ip >/dev/null ||
	! command -v unshare >/dev/null; then
	echo "SKIP: needs root, corosync, ip and unshare"
	exit 77
fi
[ -x "$LABFORGED" ] || { fail "labforged built" "no $LABFORGED"; finish; exit 1; }

LFC_NODES=0
id=$$
sw=lfc${id}sw
ns() { echo "lfc${id}n$1"; }

# The host pid of node $1's labforged, the init of its PID namespace (killing it ends its
# corosync too), found by its exact command line; empty when it does not run.
find_init() {
	local want p
	want=$(printf '%s\n' "$LABFORGED" --config "$T_TMP/n$1/conf")
	for p in /proc/[0-9]*; do
		[ "$({ tr '\0' '\n' <"$p/cmdline"; } 2>/dev/null | head -n 3)" = "$want" ] &&
			{ echo "${p#/proc/}"; return; }
	done
}

# stop_node N SIGNAL: signals node N's labforged and waits (at most 20 s) until it is gone.
stop_node() {
	local p
	p=$(find_init "$1")
	[ -z "$p" ] && return 0
	kill -"$2" "$p" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
	kill -KILL "$p" 2>/dev/null
	return 1
}

cleanup() {
	local i
	for i in $(seq "$LFC_NODES"); do stop_node "$i" TERM; done
	for i in $(seq "$LFC_NODES"); do ip netns del "$(ns "$i")" 2>/dev/null; done
	ip netns del "$sw" 2>/dev/null
	wait 2>/dev/null # the unshare processes, gone with their labforged
	# LF_KEEP_LOGS=DIR keeps the nodes' logs, configuration and state for a look afterwards.
	[ -n "${LF_KEEP_LOGS:-}" ] && cp -r "$T_TMP" "$LF_KEEP_LOGS"
	rm -rf "$T_TMP"
}
trap cleanup EXIT

# lfc_network N: a bridge in the switch namespace, one veth per node.
lfc_network() {
	local i n
	LFC_NODES=$1
	ip netns add "$sw" || { fail "create network namespaces"; finish; exit 1; }
	ip -n "$sw" link add br0 type bridge
	ip -n "$sw" link set br0 up
	for i in $(seq "$LFC_NODES"); do
		n=$(ns $i)
		ip netns add "$n"
		ip -n "$n" link set lo up
		ip link add "lfc${id}v$i" type veth peer name "lfc${id}p$i"
		ip link set "lfc${id}v$i" netns "$n"
		ip link set "lfc${id}p$i" netns "$sw"
		ip -n "$n" link set "lfc${id}v$i" name eth0
		ip -n "$n" addr add "10.213.0.1$i/24" dev eth0
		ip -n "$n" link set eth0 up
		ip -n "$sw" link set "lfc${id}p$i" master br0
		ip -n "$sw" link set "lfc${id}p$i" up
	done
}

# lfc_configure: the corosync key and each node's node.conf (for $T_TMP/lab.xml).
lfc_configure() {
	local i d
	head -c 256 /dev/urandom >"$T_TMP/authkey"
	for i in $(seq "$LFC_NODES"); do
		d=$T_TMP/n$i
		mkdir -p "$d"/{etc,run,lib,log,state,conf}
		install -m 0400 "$T_TMP/authkey" "$d/etc/authkey"
		cat >"$d/conf/node.conf" <<-EOF
	# written by tests/lib-cluster.sh
	node = node$i
	nodeid = $i
	manifest = $T_TMP/lab.xml
	libvirt_uri = test:///default
	corosync_conf = /etc/corosync/corosync.conf
	authkey = /etc/corosync/authkey
	bind_address = 10.213.0.1$i
	# Never the test machine: PID 1 of the node's PID namespace is its labforged.
	power_off_command = /bin/kill -TERM 1
EOF
	done
}

start() {
	local i=$1 d=$T_TMP/n$1
	ip netns exec "$(ns $i)" unshare -m -p -f --mount-proc sh -c '
		set -e
		mount --bind "$1/etc" /etc/corosync
		mount --bind "$1/run" /run
		mount --bind "$1/lib" /var/lib/corosync
		mount --bind "$1/log" /var/log/corosync
		mount -t tmpfs tmpfs /dev/shm
		exec "$2" --config "$1/conf" --state-dir "$1/state"' sh "$d" "$LABFORGED" \
		>>"$d/labforged.log" 2>&1 &
	# Wait until sh has become labforged in the new namespaces.
	for _ in $(seq 100); do
		[ -n "$(find_init "$i")" ] && return 0
		sleep 0.1
	done
	fail "node$i started" "$(tail -n 5 "$d/labforged.log")"
}

status() { "$LABFORGE" status --state-dir "$T_TMP/n$1/state" --format json 2>/dev/null; }

# wait_for NAME JQ-FILTER NODE...: passes once the filter holds for the status of every node.
wait_for() {
	local name=$1 filter=$2 ok i
	shift 2
	for _ in $(seq $((WAIT * 2))); do
		ok=1
		for i in "$@"; do
			status "$i" | jq -e "$filter" >/dev/null 2>&1 || { ok=0; break; }
		done
		[ "$ok" = 1 ] && { pass "$name"; return 0; }
		sleep 0.5
	done
	local dump=()
	for i in "$@"; do dump+=("node$i: $(status "$i" | jq -c . 2>&1)"); done
	dump+=("$(tail -n 15 "$T_TMP/n$i/labforged.log")")
	fail "$name" "${dump[@]}"
	return 1
}

host_state() { echo "(.hosts[] | select(.name == \"$1\") | .state) == \"$2\""; }

