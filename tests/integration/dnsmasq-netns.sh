#!/usr/bin/env bash
# labforge serve's PXE service with the real dnsmasq, on a LAN of network namespaces: in proxy
# mode beside a "school" DHCP server and in full mode alone, PXE clients (BIOS, UEFI, iPXE; see
# pxe-client.c) get the right boot file from the appliance, TFTP serves Debian's iPXE files
# byte for byte, DNS is off, nothing answers on a second interface of the appliance, a killed
# dnsmasq is started again, and stopping serve stops dnsmasq. Needs root (CI runs as root).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib-netns.sh"

if ! lf_netns_available; then
	echo "SKIP: needs root and network namespaces (ip netns)"
	exit 77
fi
for tool in dnsmasq busybox "${CC:-cc}"; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool is not installed (./build.sh deps)"
		exit 77
	fi
done
ipxe=/usr/lib/ipxe
client=$T_TMP/pxe-client
"${CC:-cc}" -std=gnu11 -O2 -Wall -Werror -o "$client" "$LF_TOP/tests/integration/pxe-client.c" ||
	{ fail "pxe-client builds"; finish; exit 1; }

# --- the LAN: appliance, school DHCP server and a PC on br0; another PC on br1, which only the
# appliance's second interface reaches ---------------------------------------------------------
APPL=192.168.50.1
for ns in sw ap school pc other; do lf_netns_new $ns; done
lf_netns_bridge sw br0
lf_netns_bridge sw br1
lf_netns_port sw br0 ap eth0 $APPL/24
lf_netns_port sw br1 ap eth1 10.99.0.1/24
lf_netns_port sw br0 school eth0 192.168.50.2/24
lf_netns_port sw br0 pc eth0 192.168.50.77/24
lf_netns_port sw br1 other eth0 10.99.0.77/24

MAC_PC=52:54:00:4c:44:01
MAC_FIXED=52:54:00:4c:44:10

write_manifest() { # FILE DHCP-ATTRIBUTES
	cat >"$1" <<EOF
<lab name="netns">
  <appliance interface="eth0" address="$APPL/24" $2/>
  <network><management subnet="192.168.50.0/24" gateway="192.168.50.254"/></network>
  <node name="pc1" role="kvm" mac="$MAC_PC"/>
  <node name="fixed" role="kvm" mac="$MAC_FIXED" address="192.168.50.30"/>
</lab>
EOF
}

# pxe NS ARCH [ARGS...]: the PXE client's lines for this exchange in $T_OUT.
pxe() {
	local ns=$1 arch=$2 mac=$MAC_PC ciaddr=192.168.50.77 iface=eth0
	shift 2
	[ "$ns" = other ] && ciaddr=10.99.0.77
	if [ "${1:-}" = --mac ]; then mac=$2; shift 2; fi
	lf_netns_exec "$ns" "$client" "$iface" "$mac" "$arch" --ciaddr "$ciaddr" "$@" >"$T_OUT" 2>&1
}

# check_line NAME REGEX: passes when a line of the last exchange matches.
check_line() {
	if grep -Eq -- "$2" "$T_OUT"; then pass "$1"; else fail "$1" "want: $2" "got: $(cat "$T_OUT")"; fi
}
check_no_line() {
	if grep -Eq -- "$2" "$T_OUT"; then
		fail "$1" "unexpected: $2" "got: $(cat "$T_OUT")"
	else
		pass "$1"
	fi
}

# start_serve MODE: labforge serve in the appliance namespace; waits for dnsmasq's TFTP to be up.
start_serve() {
	state=$T_TMP/state-$1
	serve_log=$T_TMP/serve-$1.log
	mkdir -p "$T_TMP/images-$1"
	if lf_netns_serve ap "$serve_log" "$T_TMP/$1.xml" "$state" "$T_TMP/images-$1" >"$T_OUT"; then
		serve_pid=$LF_BG_PID
		pass "$1: serve starts dnsmasq"
	else
		fail "$1: serve starts dnsmasq" "$(cat "$T_OUT")"
		finish
		exit 1
	fi
}

dnsmasq_pid() { cat "$state/dnsmasq/dnsmasq.pid" 2>/dev/null; }

# === proxy mode, beside the school's DHCP server ==============================================
lf_netns_dhcp_server school 192.168.50.100 192.168.50.150
write_manifest "$T_TMP/proxy.xml" ""
chmod 0711 "$T_TMP"
mkdir -m 0711 "$T_TMP/state-proxy"
start_serve proxy

pxe pc bios --wait 4
check_line "proxy: the school's server offers the address" \
	"^offer server=192.168.50.2 yiaddr=192.168.50.1[0-4][0-9] .* pxeclient=0 "
check_line "proxy: the appliance answers PXE without an address" \
	"^offer server=$APPL yiaddr=0.0.0.0 .* pxeclient=1 .*bootserver=$APPL"
check_line "proxy: BIOS gets undionly.kpxe from the appliance" \
	"^boot server=$APPL siaddr=$APPL file=undionly.kpxe$"
pxe pc efi64 --wait 2
check_line "proxy: UEFI x86-64 (arch 7) gets snponly.efi" \
	"^boot server=$APPL siaddr=$APPL file=snponly.efi$"
pxe pc efi-bc --wait 2
check_line "proxy: UEFI x86-64 as arch 9 gets snponly.efi" \
	"^boot server=$APPL siaddr=$APPL file=snponly.efi$"
pxe pc bios --ipxe --wait 2
check_line "proxy: iPXE gets its boot script URL" \
	"^boot server=$APPL siaddr=$APPL file=http://$APPL:8180/boot/\\$\\{netX/mac\\}\\.ipxe$"
pxe pc none --wait 4
check_line "proxy: a PC that does not PXE still gets the school's offer" \
	"^offer server=192.168.50.2 "
check_no_line "proxy: ... and nothing from the appliance" "server=$APPL"
pxe other bios
check_no_line "proxy: nothing answers on the appliance's other interface" "."

for f in undionly.kpxe snponly.efi; do
	rm -f "$T_TMP/$f"
	if (cd "$T_TMP" && lf_netns_exec pc timeout 20 busybox tftp -g -r "$f" -l "$T_TMP/$f" $APPL) &&
		cmp -s "$T_TMP/$f" "$ipxe/$f"; then
		pass "TFTP: $f is byte-identical to $ipxe/$f"
	else
		fail "TFTP: $f is byte-identical to $ipxe/$f" "$(tail -n 5 "$serve_log")"
	fi
done
if lf_netns_exec other timeout 10 busybox tftp -g -r undionly.kpxe -l "$T_TMP/x" 10.99.0.1 \
	>/dev/null 2>&1; then
	fail "TFTP: nothing on the other interface"
else
	pass "TFTP: nothing on the other interface"
fi

sockets=$(lf_netns_exec ap ss -Hlnup)
if grep -q ':67 ' <<<"$sockets" && ! grep -q ':53 ' <<<"$sockets" &&
	! lf_netns_exec ap ss -Hlntp | grep -q ':53 '; then
	pass "DNS is off (nothing on port 53; DHCP on 67)"
else
	fail "DNS is off (nothing on port 53; DHCP on 67)" "$sockets"
fi
# Bound to eth0's addresses: the IPv4 one and the IPv6 link-local one (fe80::...%eth0).
tftp_addrs=$(grep ':69 ' <<<"$sockets" | awk '{print $4}' | sort -u | xargs)
if grep -q "^$APPL:69\b" <<<"${tftp_addrs// /$'\n'}" &&
	! grep -vE "^($APPL:69|\[fe80::[0-9a-f:]+\]%eth0:69)$" <<<"${tftp_addrs// /$'\n'}"; then
	pass "TFTP listens on the provisioning interface only ($tftp_addrs)"
else
	fail "TFTP listens on the provisioning interface only" "got: $tftp_addrs"
fi
# check_dnsmasq_user NAME USER: dnsmasq runs as USER (and says why when that is root).
check_dnsmasq_user() {
	local user
	user=$(ps -o user= -p "$(dnsmasq_pid)" 2>/dev/null | xargs)
	if [ "$user" = "$2" ] && { [ "$2" = dnsmasq ] ||
		grep -q "user dnsmasq cannot reach $state/dnsmasq/tftp" "$serve_log"; }; then
		pass "$1: dnsmasq runs as $2"
	else
		fail "$1: dnsmasq runs as $2" "user: '$user'" "$(grep -i warning "$serve_log")"
	fi
}
# The state directory was made searchable: dnsmasq can read the TFTP files as its own user.
check_dnsmasq_user proxy dnsmasq
if grep -q "labforge: dnsmasq: dhcp: .*PXE(eth0) $MAC_PC" "$serve_log"; then
	pass "dnsmasq's log lines reach serve's log"
else
	fail "dnsmasq's log lines reach serve's log" "$(tail -n 10 "$serve_log")"
fi

# A dnsmasq that dies is started again.
old=$(dnsmasq_pid)
kill -KILL "$old"
if lf_wait_for_line "$serve_log" 'dnsmasq ended with status 137 .*starting it again in 1s' 10 &&
	lf_wait_for_line "$serve_log" 'dnsmasq: tftp: TFTP root is .*' 1 &&
	for _ in $(seq 50); do
		new=$(dnsmasq_pid)
		[ -n "$new" ] && [ "$new" != "$old" ] && kill -0 "$new" 2>/dev/null && break
		sleep 0.2
	done && [ "$new" != "$old" ]; then
	pass "a killed dnsmasq is started again (pid $old -> $new)"
else
	fail "a killed dnsmasq is started again" "$(tail -n 10 "$serve_log")"
fi
sleep 0.5
pxe pc bios
check_line "proxy: PXE answered again after the restart" "^boot server=$APPL .*file=undionly.kpxe$"

# Stopping serve stops dnsmasq.
last=$(dnsmasq_pid)
lf_netns_stop "$serve_pid" 15
rc=$?
if [ $rc -eq 0 ] && ! kill -0 "$last" 2>/dev/null; then
	pass "SIGTERM stops serve (status 0) and its dnsmasq"
else
	fail "SIGTERM stops serve (status 0) and its dnsmasq" "status $rc, dnsmasq $last" \
		"$(tail -n 10 "$serve_log")"
fi
lf_netns_stop "$(cat "$T_TMP/dhcp-school.pid")" 5

# === full mode, alone on the LAN ===============================================================
write_manifest "$T_TMP/full.xml" 'dhcp="full" dhcp-range="192.168.50.200-192.168.50.220"'
mkdir -m 0700 "$T_TMP/state-full"
start_serve full
# A state directory of mode 0700 (root's only): dnsmasq cannot drop to its user there.
check_dnsmasq_user full root
ROUTER='router=192.168.50.254 dns=-$'
pxe pc bios --wait 5
check_line "full: BIOS gets an address of the range, undionly.kpxe, router from the manifest" \
	"^offer server=$APPL yiaddr=192.168.50.2[0-2][0-9] siaddr=$APPL file=undionly.kpxe .*$ROUTER"
pxe pc efi64 --wait 5
check_line "full: UEFI gets snponly.efi" "^offer server=$APPL .* file=snponly.efi "
pxe pc bios --ipxe --wait 5
check_line "full: iPXE gets its boot script URL" \
	"^offer server=$APPL .* file=http://$APPL:8180/boot/\\$\\{netX/mac\\}\\.ipxe "
pxe pc none --wait 5
check_line "full: a PC that does not PXE gets an address and no boot file" \
	"^offer server=$APPL yiaddr=192.168.50.2[0-2][0-9] .* file=- pxeclient=0 "
pxe pc bios --mac $MAC_FIXED --wait 5
check_line "full: a node with a fixed address gets it" "^offer server=$APPL yiaddr=192.168.50.30 "
pxe other bios --wait 3
check_no_line "full: nothing answers on the appliance's other interface" "."

# A reloaded manifest (SIGHUP) with another range restarts dnsmasq with it.
write_manifest "$T_TMP/full.xml" 'dhcp="full" dhcp-range="192.168.50.230-192.168.50.240"'
kill -HUP "$serve_pid"
if lf_wait_for_line "$serve_log" 'the manifest changed the PXE service: restarting dnsmasq' 10 &&
	lf_wait_for_line "$serve_log" 'dhcp: DHCP, IP range 192.168.50.230 -- 192.168.50.240' 10; then
	pass "full: SIGHUP with a new range restarts dnsmasq with it"
else
	fail "full: SIGHUP with a new range restarts dnsmasq with it" "$(tail -n 10 "$serve_log")"
fi
pxe pc none --wait 5
check_line "full: addresses come from the new range" \
	"^offer server=$APPL yiaddr=192.168.50.2[34][0-9] "
lf_netns_stop "$serve_pid" 15
rc=$?
if [ $rc -eq 0 ]; then pass "full: serve stops"; else fail "full: serve stops" "status $rc"; fi

finish
