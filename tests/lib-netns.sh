# shellcheck shell=bash
# Shell helpers for tests that build a small LAN out of network namespaces (root only): a
# "switch" namespace with bridges, hosts on veth pairs, tap devices for qemu guests, and
# background processes inside them. Everything is removed on exit. Source after tests/lib.sh
# (and after tests/lab/lib-qemu.sh when guests are used: guests are stopped first).
#
#   lf_netns_available || exit 77
#   lf_netns_new sw; lf_netns_new ap             # namespaces (names are made unique)
#   lf_netns_bridge sw br0
#   lf_netns_port sw br0 ap eth0 192.168.50.1/24  # veth: ap's eth0 on sw's br0
#   lf_netns_tap sw br0 tap0                      # for qemu -netdev tap,ifname=tap0
#   lf_netns_bg ap "$T_TMP/x.log" CMD...; pid=$LF_BG_PID
#   lf_netns_exec ap ss -lnu
#   lf_netns_dhcp_server school 192.168.50.100 192.168.50.150   # the LAN's own DHCP server
#   lf_netns_serve ap LOG LAB.xml STATE IMAGES                   # labforge serve with dnsmasq
#   lf_pxe_lab_requirements    # exits 77 (skip) without qemu, namespaces, dnsmasq or iPXE

_lfn_prefix=lf$$
_lfn_all=()
_lfn_pids=()

lf_netns_available() {
	[ "$(id -u)" -eq 0 ] || return 1
	command -v ip >/dev/null 2>&1 || return 1
	ip netns add "$_lfn_prefix-probe" 2>/dev/null || return 1
	ip netns del "$_lfn_prefix-probe"
}

lf_netns() { # NAME: the namespace's real name
	echo "$_lfn_prefix-$1"
}

lf_netns_new() { # NAME
	ip netns add "$(lf_netns "$1")" || return 1
	_lfn_all+=("$1")
	ip -n "$(lf_netns "$1")" link set lo up
}

lf_netns_exec() { # NAME CMD...
	local ns
	ns=$(lf_netns "$1")
	shift
	ip netns exec "$ns" "$@"
}

lf_netns_bridge() { # NS BRIDGE: a bridge that forwards at once (no STP, no forwarding delay)
	local ns
	ns=$(lf_netns "$1")
	ip -n "$ns" link add "$2" type bridge stp_state 0 forward_delay 0 &&
		ip -n "$ns" link set "$2" up
}

# A veth pair: IFNAME in PEER_NS, its other end a port of BRIDGE in NS (named after the peer).
lf_netns_port() { # NS BRIDGE PEER_NS IFNAME [ADDR/PREFIX]
	local ns peer port
	ns=$(lf_netns "$1") peer=$(lf_netns "$3")
	port=$3-$4
	ip -n "$ns" link add "${port:0:15}" type veth peer name "$4" netns "$peer" &&
		ip -n "$ns" link set "${port:0:15}" master "$2" up &&
		ip -n "$peer" link set "$4" up || return 1
	if [ -n "${5:-}" ]; then
		ip -n "$peer" addr add "$5" dev "$4" || return 1
	fi
}

lf_netns_tap() { # NS BRIDGE TAP
	local ns
	ns=$(lf_netns "$1")
	ip -n "$ns" tuntap add "$3" mode tap &&
		ip -n "$ns" link set "$3" master "$2" up
}

# Starts CMD in the background inside NS with its output in LOG; $LF_BG_PID is its pid (ip netns
# exec execs the command, so it is the command's own pid). Stopped on exit.
lf_netns_bg() { # NS LOG CMD...
	local ns log=$2
	ns=$(lf_netns "$1")
	shift 2
	# A simple command, not a function: bash forks and execs ip, so $! is the command's pid.
	ip netns exec "$ns" "$@" </dev/null >"$log" 2>&1 &
	LF_BG_PID=$!
	_lfn_pids+=("$LF_BG_PID")
}

# Stops a background process: SIGTERM, then SIGKILL after TIMEOUT seconds (default 10). Returns
# its exit status (137 when it had to be killed).
lf_netns_stop() { # PID [TIMEOUT]
	local pid=$1 end=$((SECONDS + ${2:-10})) rc
	kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return $?; }
	while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	return $rc
}

# Waits until FILE holds a line matching the extended regular expression; 0 when seen, 1 after
# TIMEOUT seconds.
lf_wait_for_line() { # FILE REGEX TIMEOUT
	local end=$((SECONDS + $3))
	while [ $SECONDS -lt $end ]; do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	grep -Eq -- "$2" "$1" 2>/dev/null
}

# A plain DHCP server in NS (the school's, which knows nothing of PXE): dnsmasq handing out
# FIRST..LAST on eth0, no router, no DNS.
lf_netns_dhcp_server() { # NS FIRST LAST
	lf_netns_bg "$1" "$T_TMP/dhcp-$1.log" dnsmasq --keep-in-foreground --conf-file=/dev/null \
		--port=0 --interface=eth0 --bind-interfaces --dhcp-range="$2,$3,1h" \
		--dhcp-option=option:router --dhcp-leasefile="$T_TMP/dhcp-$1.leases" \
		--pid-file="$T_TMP/dhcp-$1.pid" --log-facility=-
}

# labforge serve in NS with its output in LOG; $LF_BG_PID is its pid. Succeeds once its dnsmasq
# serves TFTP (within 30 s); otherwise prints the end of LOG and fails.
lf_netns_serve() { # NS LOG MANIFEST STATE-DIR IMAGES-DIR
	lf_netns_bg "$1" "$2" "$LABFORGE" serve --manifest "$3" --state-dir "$4" --images "$5"
	lf_wait_for_line "$2" 'dnsmasq: tftp: TFTP root is ' 30 && return 0
	tail -n 20 "$2"
	return 1
}

# What a PXE lab test needs (after tests/lab/lib-qemu.sh): a TCG machine, network namespaces,
# dnsmasq, iPXE's ROMs and boot files; without one of them the test is skipped (exit 77).
lf_pxe_lab_requirements() {
	local f
	if ! lf_qemu_available; then
		echo "SKIP: $LF_QEMU cannot start a TCG machine here (install qemu-system-x86)"
		exit 77
	fi
	if ! lf_netns_available; then
		echo "SKIP: needs root and network namespaces (ip netns)"
		exit 77
	fi
	for f in /usr/lib/ipxe/qemu/efi-e1000.rom /usr/sbin/dnsmasq /usr/lib/ipxe/undionly.kpxe; do
		if [ ! -e "$f" ]; then
			echo "SKIP: $f is missing (./build.sh deps: ipxe-qemu, dnsmasq-base, ipxe)"
			exit 77
		fi
	done
}

_lfn_cleanup() {
	local pid n
	if declare -F _lfq_cleanup >/dev/null; then
		# shellcheck disable=SC2154 # lib-qemu.sh's list of guests
		for n in "${_lfq_vms[@]}"; do lf_qemu_stop "$n"; done
	fi
	for pid in "${_lfn_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${_lfn_pids[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.25
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	# Whatever still runs inside (a process the test started some other way) goes too.
	for n in "${_lfn_all[@]}"; do
		ip netns pids "$(lf_netns "$n")" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
	done
	for n in "${_lfn_all[@]}"; do ip netns del "$(lf_netns "$n")" 2>/dev/null; done
	rm -rf "$T_TMP"
}
trap _lfn_cleanup EXIT
trap 'exit 130' INT TERM
