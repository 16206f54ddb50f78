#!/usr/bin/env bash
# Room 301 as a virtual room: the appliance (`labforge serve`, with dnsmasq in proxy DHCP beside
# the school's DHCP server) on a LAN of network namespaces, and qemu guests (TCG) as the PCs of
# lab.xml — store1 (2 SSDs, 2 HDDs) and kvm1, kvm2 (one SSD each), with their management NICs
# and their 10G storage links cabled as the room file says. The PCs PXE-boot, are installed
# into their roles, and the table of `labforge nodes` is shown live until each is deployed or
# failed; then a summary says how long each took. The login node is not simulated.
#
#   examples/room-301/virtual-room.sh      (root; run by `./build.sh demo`, which builds first)
#   LF_DEMO_TIMEOUT   seconds before giving up (default 5400)
#
# Nothing outside the namespaces and guests this script creates is touched; everything is
# removed at the end, also on Ctrl-C. Under TCG the three installs take 6 to 15 minutes.
set -u
room=$(cd "$(dirname "$0")" && pwd)
export LF_TOP=${LF_TOP:-$(cd "$room/../.." && pwd)}
export LF_BUILD=${LF_BUILD:-$LF_TOP/build}
source "$LF_TOP/tests/lib.sh"
source "$LF_TOP/tests/lab/lib-qemu.sh"
source "$LF_TOP/tests/lib-netns.sh"
source "$LF_TOP/tests/lab/lib-install.sh"
say() { echo "virtual room: $*"; }

[ "$(id -u)" -eq 0 ] || { say "needs root (network namespaces, images)"; exit 2; }
lf_qemu_available || { say "qemu-system-x86_64 cannot start a machine here"; exit 2; }
lf_netns_available || { say "cannot create network namespaces"; exit 2; }

say "building the installer and the storage and kvm images (cached after the first time)"
for role in storage kvm; do
	lf_install_images "$role" >/dev/null || { cat "$T_ERR"; say "image build failed"; exit 1; }
done

# --- the LAN of lab.xml: the appliance's enp1s0 at 192.168.50.1, the school's DHCP server ------
for ns in sw ap school; do lf_netns_new $ns || exit 1; done
lf_netns_bridge sw lan
lf_netns_port sw lan ap enp1s0 192.168.50.1/24
lf_netns_port sw lan school eth0 192.168.50.2/24
lf_netns_dhcp_server school 192.168.50.100 192.168.50.199
state=$T_TMP/state
lf_netns_serve ap "$T_TMP/serve.log" "$room/lab.xml" "$state" "$LFI_IMAGES" >/dev/null ||
	{ say "labforge serve did not start"; tail -n 20 "$T_TMP/serve.log"; exit 1; }
cat >"$T_TMP/qemu-in-netns" <<EOF
#!/bin/sh
exec ip netns exec $(lf_netns sw) ${LF_QEMU:-qemu-system-x86_64} "\$@"
EOF
chmod +x "$T_TMP/qemu-in-netns"
LF_QEMU=$T_TMP/qemu-in-netns

# --- the PCs: management NIC on the LAN (PXE first), each <link> a cable of its own ------------
n=0
nic() { # PC MODEL MAC BRIDGE [noboot]: the PC's NIC on a new tap device of BRIDGE
	n=$((n + 1))
	lf_netns_tap sw "$4" "tap$n" || exit 1
	lf_qemu_nic_tap "$1" "$2" "$3" "tap$n" ${5:-}
}
lf_netns_bridge sw link1
lf_netns_bridge sw link2
lf_qemu_new store1
lf_qemu_disk store1 ssd 48G s1-ssd0
lf_qemu_disk store1 ssd 48G s1-ssd1
lf_qemu_disk store1 hdd 64G s1-hdd0
lf_qemu_disk store1 hdd 64G s1-hdd1
nic store1 e1000 52:54:00:00:01:01 lan
nic store1 virtio-net-pci 52:54:00:00:01:11 link1 noboot
nic store1 virtio-net-pci 52:54:00:00:01:12 link2 noboot
for k in 1 2; do
	lf_qemu_new kvm$k
	lf_qemu_disk kvm$k ssd 64G k$k-ssd0
	nic kvm$k e1000 52:54:00:00:02:0$k lan
	nic kvm$k virtio-net-pci 52:54:00:00:02:1$k link$k noboot
done

# --- power on, one PC every 20 s (as IT staff would), and watch ----------------------------------
declare -A started=() ended=()
pcs=(store1 kvm1 kvm2)
t0=$SECONDS
for pc in "${pcs[@]}"; do
	lf_qemu_start "$pc"
	started[$pc]=$SECONDS
	say "$pc powered on (PXE boot)"
	sleep 20
done
table() {
	"$LABFORGE" nodes --state-dir "$state" 2>&1
}
last='' timeout=${LF_DEMO_TIMEOUT:-5400}
while :; do
	now=$(table)
	for pc in "${pcs[@]}"; do
		[ -n "${ended[$pc]:-}" ] && continue
		st=$(awk -v n="$pc" '$1 == n { print $4 }' <<<"$now")
		if [ "$st" = deployed ] || [ "$st" = failed ]; then
			ended[$pc]=$SECONDS
			lf_qemu_stop "$pc" # it reboots into its own disk: the demo ends here
		fi
	done
	if [ "$now" != "$last" ]; then
		[ -t 1 ] && printf '\033[H\033[2J'
		echo "== labforge nodes   ($((SECONDS - t0)) s)"
		echo "$now"
		last=$now
	fi
	[ ${#ended[@]} -eq ${#pcs[@]} ] && break
	if [ $((SECONDS - t0)) -ge "$timeout" ]; then
		say "gave up after $timeout s"
		break
	fi
	sleep 5
done

echo
echo "== summary"
rc=0
for pc in "${pcs[@]}"; do
	st=$(table | awk -v n="$pc" '$1 == n { print $4 }')
	if [ -n "${ended[$pc]:-}" ]; then
		printf '%-8s %-10s %4d s from power-on\n' "$pc" "$st" $((ended[$pc] - started[$pc]))
	else
		printf '%-8s %-10s (not finished)\n' "$pc" "${st:-unknown}"
	fi
	[ "$st" = deployed ] || rc=1
done
for pc in "${pcs[@]}"; do
	st=$(table | awk -v n="$pc" '$1 == n { print $4 }')
	[ "$st" = deployed ] && continue
	echo
	echo "== $pc: labforge logs $pc, then the end of its console"
	"$LABFORGE" logs "$pc" --state-dir "$state"
	lf_qemu_tail "$pc" 15
done
exit $rc
