#!/usr/bin/env bash
# The first PXE boot end to end (issue 4 item 5): a qemu guest (TCG) with no kernel given and a
# MAC the appliance does not know PXE-boots through its NIC's iPXE ROM on a LAN of network
# namespaces, beside a "school" DHCP server: labforge serve's dnsmasq (proxy DHCP) → iPXE →
# /boot/<mac>.ipxe → the installer in discovery mode → probe → inventory upload → power off.
# The PC then shows as discovered with its inventory, and its disks, which carried a known
# pattern and a partition table, are byte for byte what they were (DESIGN §8.1).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib-qemu.sh"
source "$(dirname "$0")/../lib-netns.sh"

lf_pxe_lab_requirements

lab_build=${LF_LAB_BUILD:-$LF_TOP/build}
images=${LF_IMAGES_DIR:-$lab_build/images}
run env LF_IMAGES_DIR="$images" "$LF_TOP/images/build-netboot.sh" \
	--installer "$lab_build/bin/labforge-install"
if [ "$T_RC" -ne 0 ]; then
	fail "netboot pair builds" "$(tail -n 20 "$T_ERR")"
	finish
	exit 1
fi
pass "netboot pair builds ($(tail -n 1 "$T_OUT"))"

# --- the LAN ------------------------------------------------------------------------------------
APPL=192.168.50.1
MAC=52:54:00:4c:50:01
for ns in sw ap school; do lf_netns_new $ns; done
lf_netns_bridge sw br0
lf_netns_port sw br0 ap eth0 $APPL/24
lf_netns_port sw br0 school eth0 192.168.50.2/24
lf_netns_tap sw br0 tap0
lf_netns_dhcp_server school 192.168.50.100 192.168.50.150

# The room lists other PCs; the guest's MAC is not among them.
cat >"$T_TMP/lab.xml" <<EOF
<lab name="pxe-lab">
  <appliance interface="eth0" address="$APPL/24" dhcp="proxy"/>
  <network><management subnet="192.168.50.0/24"/></network>
  <node name="kvm1" role="kvm" mac="52:54:00:4c:50:91"/>
</lab>
EOF
state=$T_TMP/state
serve_log=$T_TMP/serve.log
if lf_netns_serve ap "$serve_log" "$T_TMP/lab.xml" "$state" "$images" >"$T_OUT"; then
	serve_pid=$LF_BG_PID
	pass "labforge serve runs with dnsmasq in proxy mode"
else
	fail "labforge serve runs with dnsmasq in proxy mode" "$(cat "$T_OUT")"
	finish
	exit 1
fi

# --- the PC: two disks with a known pattern (and a partition table on one), no kernel ----------
lf_qemu_new pc
lf_qemu_disk pc ssd 1G lf-ssd0
lf_qemu_disk pc hdd 1G lf-hdd0
ssd=$(lf_qemu_disk_file pc 0) hdd=$(lf_qemu_disk_file pc 1)
printf 'label: gpt\nsize=64MiB, type=linux\n' | sfdisk -q "$ssd" >/dev/null
for f in "$ssd" "$hdd"; do
	for off in 1 100 1023; do # MiB: near the start, inside, at the very end
		yes "labforge pattern $off $(basename "$f")" | head -c 1M |
			dd of="$f" bs=1M seek=$off conv=notrunc status=none
	done
done
sum_before=$(sha256sum "$ssd" "$hdd" | awk '{print $1}' | xargs)
lf_qemu_nic_tap pc e1000 $MAC tap0
# qemu runs inside the switch namespace, where the tap device is.
cat >"$T_TMP/qemu-in-netns" <<EOF
#!/bin/sh
exec ip netns exec $(lf_netns sw) $LF_QEMU "\$@"
EOF
chmod +x "$T_TMP/qemu-in-netns"
LF_QEMU=$T_TMP/qemu-in-netns
start=$SECONDS
lf_qemu_start pc

# iPXE prints the script's "labforge: discovering ..." line; the installer ends with its own.
if lf_qemu_wait pc "labforge: discovering the hardware of $MAC" 120; then
	pass "the PC PXE-boots through proxy DHCP into its discovery script ($((SECONDS - start))s)"
else
	fail "the PC PXE-boots through proxy DHCP into its discovery script" "$(lf_qemu_tail pc 30)" \
		"$(grep -E 'PXE|boot' "$serve_log" | tail -n 10)"
fi
if lf_qemu_wait_exit pc 420; then
	pass "the discovery boot powers the PC off ($((SECONDS - start))s)"
else
	fail "the discovery boot powers the PC off" "$(lf_qemu_tail pc 30)"
fi
last=$(lf_qemu_console pc | grep '^labforge: ' | tail -n 1)
if [ "$last" = "labforge: discovery complete" ]; then
	pass "the installer says: $last"
else
	fail "the installer says: labforge: discovery complete" "last: $last" "$(lf_qemu_tail pc 20)"
fi
if grep -q "PXE(eth0) .*$MAC" "$serve_log" && grep -q "dnsmasq: tftp: " "$serve_log"; then
	pass "dnsmasq answered the PC's PXE requests (seen in serve's log)"
else
	fail "dnsmasq answered the PC's PXE requests (seen in serve's log)" "$(tail -n 20 "$serve_log")"
fi

# --- what the appliance knows now ---------------------------------------------------------------
run "$LABFORGE" nodes --state-dir "$state" --format json
node=$(jq -c --arg mac $MAC '.nodes[] | select(.mac == $mac)' "$T_OUT" 2>/dev/null)
if [ "$(jq -r .state <<<"$node" 2>/dev/null)" = discovered ]; then
	pass "labforge nodes shows the PC as discovered"
else
	fail "labforge nodes shows the PC as discovered" "$(cat "$T_OUT" "$T_ERR")"
fi
if ! jq -e 'has("inventory")' <<<"$node" >/dev/null 2>&1; then
	fail "labforge nodes --format json shows the PC's inventory" "node: $node"
fi
disks=$(jq -r '[.inventory.disks[] | "\(.serial):\(.rotational):\(.signatures | join("+"))"]
	| sort | join(" ")' <<<"$node" 2>&1)
if [ "$disks" = "lf-hdd0:true: lf-ssd0:false:gpt" ]; then
	pass "its inventory lists both disks, kinds and signatures ($disks)"
else
	fail "its inventory lists both disks, kinds and signatures" "got: $disks"
fi
nics=$(jq -r '[.inventory.nics[] | .mac] | join(" ")' <<<"$node" 2>&1)
if [ "$nics" = "$MAC" ]; then
	pass "its inventory lists the NIC it booted from"
else
	fail "its inventory lists the NIC it booted from" "got: $nics"
fi
sum_after=$(sha256sum "$ssd" "$hdd" | awk '{print $1}' | xargs)
if [ "$sum_after" = "$sum_before" ]; then
	pass "both disks are byte-identical after discovery (sha256)"
else
	fail "both disks are byte-identical after discovery (sha256)" "before: $sum_before" \
		"after:  $sum_after"
fi

lf_netns_stop "$serve_pid" 15
rc=$?
if [ $rc -eq 0 ]; then pass "serve stops"; else fail "serve stops" "status $rc"; fi
finish
