#!/usr/bin/env bash
# Installs over PXE end to end (issue 4 item 5): on a LAN of network namespaces beside a
# "school" DHCP server, `labforge serve` (dnsmasq proxy DHCP, iPXE, HTTP) and qemu guests (TCG)
# that PXE-boot through their NIC's iPXE ROM:
#  - store1 (2 SSDs, 2 HDDs) and kvm1 (one SSD), listed in the room file, install at the same
#    time in appliance mode (assignment with a one-time token, progress, completion), reach
#    `deployed`, and at their next PXE boot the appliance's script exits to the local disk,
#    which boots each installed system to its login prompt; the kvm role is then checked inside
#    kvm1 through the QEMU guest agent (issue 3 item 9: one disk, no md, LV scratch, mounts, the
#    VM store's NFS mount, tuning, the storage link, libvirtd); the storage role has its own
#    checks in install-storage.sh;
#  - `labforge rebuild kvm1`: the next PXE boot installs it again with the same identity;
#  - store2's PC has one small disk: its plan fails, and `labforge nodes` and `labforge logs`
#    say where and why, and its next boot does not install it again;
#  - requests with a wrong token are refused.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib-qemu.sh"
source "$(dirname "$0")/../lib-netns.sh"
source "$(dirname "$0")/lib-install.sh"

lf_pxe_lab_requirements
lf_install_images storage || { finish; exit 1; }
lf_install_images kvm || { finish; exit 1; }

# --- the LAN: appliance, school DHCP server, the PCs' taps; an empty bridge for storage links ---
APPL=192.168.50.1
MAC_KVM=52:54:00:4c:51:21 MAC_STORE=52:54:00:4c:51:11 MAC_SMALL=52:54:00:4c:51:31
for ns in sw ap school; do lf_netns_new $ns; done
lf_netns_bridge sw br0
lf_netns_bridge sw br1
lf_netns_port sw br0 ap eth0 $APPL/24
lf_netns_port sw br0 school eth0 192.168.50.2/24
lf_netns_tap sw br0 tap0
lf_netns_tap sw br1 tap1
lf_netns_tap sw br0 tap2
lf_netns_tap sw br1 tap3
lf_netns_tap sw br0 tap4
lf_netns_dhcp_server school 192.168.50.100 192.168.50.150

cat >"$T_TMP/lab.xml" <<EOF
<lab name="pxe-install">
  <appliance interface="eth0" address="$APPL/24" dhcp="proxy"/>
  <network>
    <management subnet="192.168.50.0/24"/>
    <storage-links subnet="172.16.0.0/24"/>
  </network>
  <node name="store1" role="storage" mac="$MAC_STORE"/>
  <node name="kvm1" role="kvm" mac="$MAC_KVM"/>
  <node name="store2" role="storage" mac="$MAC_SMALL"/>
  <link a="store1:52:54:00:4c:51:12" b="kvm1:52:54:00:4c:51:22"/>
</lab>
EOF
state=$T_TMP/state
serve_log=$T_TMP/serve.log
if lf_netns_serve ap "$serve_log" "$T_TMP/lab.xml" "$state" "$LFI_IMAGES" >"$T_OUT"; then
	serve_pid=$LF_BG_PID
	pass "labforge serve runs with dnsmasq in proxy mode"
else
	fail "labforge serve runs with dnsmasq in proxy mode" "$(cat "$T_OUT")"
	finish
	exit 1
fi
cat >"$T_TMP/qemu-in-netns" <<EOF
#!/bin/sh
exec ip netns exec $(lf_netns sw) $LF_QEMU "\$@"
EOF
chmod +x "$T_TMP/qemu-in-netns"
LF_QEMU=$T_TMP/qemu-in-netns

nodes_json() { "$LABFORGE" nodes --state-dir "$state" --format json 2>&1; }
field() { # NAME KEY
	nodes_json | jq -r --arg n "$1" --arg k "$2" '.nodes[] | select(.name == $n) | .[$k]'
}

# The PCs: the PXE NIC on the LAN, the storage-link NIC on the other bridge (store1's link to
# kvm1). store1: two SSDs and two HDDs; kvm1: one SSD above 40 GiB.
lf_qemu_new store1
lf_qemu_disk store1 ssd 48G lf-ssd0
lf_qemu_disk store1 ssd 48G lf-ssd1
lf_qemu_disk store1 hdd 16G lf-hdd0
lf_qemu_disk store1 hdd 16G lf-hdd1
lf_qemu_nic_tap store1 e1000 $MAC_STORE tap2
lf_qemu_nic_tap store1 e1000 52:54:00:4c:51:12 tap3 noboot
lf_qemu_new kvm1
lf_qemu_disk kvm1 ssd 48G lf-ssd0
lf_qemu_nic_tap kvm1 e1000 $MAC_KVM tap0
lf_qemu_nic_tap kvm1 e1000 52:54:00:4c:51:22 tap1 noboot
lf_qemu_agent kvm1

# Waits for PC's installer's closing line and the reboot (qemu ends: -no-reboot).
installed() { # PC WHAT T0
	if lf_qemu_wait "$1" '^labforge: install (complete|failed)' 1800 &&
		lf_qemu_wait_exit "$1" 120 &&
		lf_qemu_console "$1" | grep -q '^labforge: install complete'; then
		pass "$2: $1 PXE-boots and installs ($((SECONDS - $3))s)"
	else
		fail "$2: $1 PXE-boots and installs" "$(lf_qemu_tail "$1" 40)" \
			"$(tail -n 20 "$serve_log")"
		finish
		exit 1
	fi
	if [ "$(field "$1" state)/$(field "$1" progress)" = deployed/100 ]; then
		pass "$2: labforge nodes shows $1 deployed at 100%"
	else
		fail "$2: labforge nodes shows $1 deployed at 100%" "$(nodes_json)"
	fi
}
# Boots PC from the network and waits until its install is done.
install_pc() { # PC WHAT
	local t=$SECONDS
	lf_qemu_start "$1"
	installed "$1" "$2" $t
}

# --- 1. install store1 and kvm1 over PXE, both at once --------------------------------------------
t=$SECONDS
lf_qemu_start store1
lf_qemu_start kvm1
installed kvm1 "first install" $t
installed store1 "first install" $t
for pc in store1:$MAC_STORE kvm1:$MAC_KVM; do
	name=${pc%%:*} mac=${pc#*:}
	progress=$(grep -c "POST /api/v1/nodes/$mac/progress 200" "$serve_log")
	if lf_qemu_console "$name" | grep -q "labforge: installing $name" &&
		[ "$progress" -ge 16 ] && grep -q "POST /api/v1/nodes/$mac/complete 200" "$serve_log"; then
		pass "the install script named $name; the appliance took $progress progress events and the completion"
	else
		fail "the install script named $name; progress events and the completion reached the appliance" \
			"$progress progress events" "$(grep "$mac" "$serve_log" | tail -n 20)"
	fi
done

# --- 2. the next PXE boot starts the installed systems from their disks ------------------------
t=$SECONDS
lf_qemu_start store1
lf_qemu_start kvm1
for pc in store1 kvm1; do
	if lf_qemu_wait $pc "^$pc login:" 900 &&
		lf_qemu_console $pc | grep -q "labforge: $pc is deployed, booting its local disk"; then
		pass "deployed: the next PXE boot exits to the disk, which boots $pc ($((SECONDS - t))s)"
	else
		fail "deployed: the next PXE boot exits to the disk, which boots $pc" \
			"$(lf_qemu_tail $pc 40)"
	fi
done

# The installed kvm role, looked at through its QEMU guest agent (issue 3 item 9, kvm half).
# store1 is up beside it, but nothing makes kvm1's VM store mount wait for store1's NFS server
# (the cluster daemon's job): that mount is the one unit allowed to have failed.
gx() { lf_install_exec kvm1 "$1"; }
if out=$(gx 'i=0; while [ $i -lt 120 ] && networkctl list --no-legend | grep -q configuring
	do sleep 1; i=$((i + 1)); done; echo ready'); then
	pass "guest agent answers ($((SECONDS - t))s after power on)"
else
	fail "guest agent answers" "$out" "$(lf_qemu_tail kvm1 30)"
	finish
	exit 1
fi

md=$(gx 'cat /proc/mdstat')
if ! grep -q '^md' <<<"$md"; then
	pass "no md array on a one-disk node"
else
	fail "no md array on a one-disk node" "$md"
fi

pvs=$(gx 'pvs --reportformat json -o pv_name,pv_tags,vg_name')
pv=$(jq -r '.report[].pv[] | "\(.pv_name) \(.pv_tags) \(.vg_name)"' <<<"$pvs" 2>&1)
read -r pv_dev pv_tag pv_vg <<<"$pv"
pv_disk=$(gx "lsblk -dno PKNAME $pv_dev")
pv_serial=$(gx "lsblk -dno SERIAL /dev/$pv_disk")
if [ "$(wc -l <<<"$pv")" = 1 ] && [ "$pv_tag" = fast ] && [ "$pv_vg" = labvg ] &&
	[ "$pv_serial" = lf-ssd0 ]; then
	pass "one PV ($pv_dev on lf-ssd0), tag fast, in labvg"
else
	fail "one PV on lf-ssd0, tag fast, in labvg" "$pvs" "disk: $pv_disk, serial: $pv_serial"
fi
lv=$(gx 'lvs --reportformat json -o lv_name,vg_name,devices' |
	jq -r '[.report[].lv[] | "\(.vg_name)/\(.lv_name):\(.devices)"] | join(" ")' 2>&1)
if [ "$lv" = "labvg/scratch:$pv_dev(0)" ]; then
	pass "LV scratch on the disk's PV"
else
	fail "LV scratch on the disk's PV" "got: $lv" "want: labvg/scratch:$pv_dev(0)"
fi

mnt=$(gx 'findmnt -rno TARGET,SOURCE,FSTYPE,OPTIONS')
if grep -Eq '^/var/lib/labforge /dev/mapper/labvg-scratch ext4 .*\bnoatime\b.*\bdata=writeback\b' \
	<<<"$mnt"; then
	pass "scratch mounted at boot on /var/lib/labforge with noatime,data=writeback"
else
	fail "scratch mounted at boot on /var/lib/labforge with noatime,data=writeback" "$mnt"
fi

nfs=$(gx 'findmnt --fstab -rno SOURCE,TARGET,FSTYPE,OPTIONS /srv/labforge/vms')
if [ "$nfs" = "172.16.0.0:/srv/labforge/vms /srv/labforge/vms nfs4 \
rw,async,hard,noatime,proto=tcp,nconnect=4,rsize=1048576,wsize=1048576,_netdev" ]; then
	pass "fstab mounts store1's VM store over the storage link ($nfs)"
else
	fail "fstab mounts store1's VM store over the storage link" "got: $nfs"
fi

lf_install_check_sysctl gx

addr=$(gx 'ip -j addr')
link=$(jq -r '.[] | select(.address == "52:54:00:4c:51:22")
	| "\(.mtu) \([.addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"]
	| join(","))"' <<<"$addr" 2>&1)
if [ "$link" = "9000 172.16.0.1/31" ]; then
	pass "storage link 52:54:00:4c:51:22 is 172.16.0.1/31 with MTU 9000"
else
	fail "storage link 52:54:00:4c:51:22 is 172.16.0.1/31 with MTU 9000" "got: $link" "$addr"
fi

libvirtd=$(gx 'systemctl is-active libvirtd.service')
if [ "$libvirtd" = active ]; then
	pass "libvirtd runs"
else
	fail "libvirtd runs" "$libvirtd"
fi
failed=$(gx 'systemctl --failed --no-legend --plain' | awk '{ print $1 }' |
	grep -vx -e srv-labforge-vms.mount -e remote-fs.target)
if [ -z "$failed" ]; then
	pass "no failed systemd unit but the VM store mount"
else
	fail "no failed systemd unit but the VM store mount" "$failed"
fi
gx 'systemctl poweroff' >/dev/null
lf_qemu_wait_exit kvm1 120 || fail "the installed system powers off" "$(lf_qemu_tail kvm1 20)"
lf_qemu_stop store1
[ "$(field kvm1 state)/$(field store1 state)" = deployed/deployed ] &&
	pass "a boot of a deployed PC changes nothing" ||
	fail "a boot of a deployed PC changes nothing" "$(nodes_json)"

# --- 3. rebuild: same identity --------------------------------------------------------------
run "$LABFORGE" rebuild kvm1 --state-dir "$state"
if [ "$T_RC" -eq 0 ] && grep -q "kvm1 ($MAC_KVM) will be reinstalled as kvm" "$T_OUT"; then
	pass "labforge rebuild kvm1"
else
	fail "labforge rebuild kvm1" "$(cat "$T_OUT" "$T_ERR")"
fi
nodeid=$(field kvm1 nodeid)
install_pc kvm1 "rebuild"
if lf_qemu_console kvm1 | grep -q "labforge: installing kvm1" && [ "$(field kvm1 nodeid)" = "$nodeid" ] &&
	[ "$(field kvm1 role)" = kvm ]; then
	pass "rebuild: same name, role and node id ($nodeid)"
else
	fail "rebuild: same name, role and node id" "$(nodes_json)"
fi

# --- 4. store2: its install fails, and says why ---------------------------------------------
lf_qemu_new store2
lf_qemu_disk store2 ssd 4G lf-small
lf_qemu_nic_tap store2 e1000 $MAC_SMALL tap4
t=$SECONDS
lf_qemu_start store2
if lf_qemu_wait store2 '^labforge: install (complete|failed)' 900 &&
	lf_qemu_console store2 | grep -q '^labforge: install failed'; then
	pass "store2's install fails on its PC ($((SECONDS - t))s)"
else
	fail "store2's install fails on its PC" "$(lf_qemu_tail store2 30)"
fi
lf_qemu_wait_exit store2 120 || true
run "$LABFORGE" nodes --state-dir "$state"
if grep -qE '^store2 .* failed .*failed at' "$T_OUT"; then
	pass "labforge nodes: store2 failed, with the step ($(grep '^store2' "$T_OUT" | tr -s ' ' | cut -c1-100))"
else
	fail "labforge nodes: store2 failed, with the step" "$(cat "$T_OUT")"
fi
run "$LABFORGE" logs store2 --state-dir "$state"
if [ "$T_RC" -eq 0 ] && grep -q '^failed at: ' "$T_OUT" && grep -q '^reason: ' "$T_OUT"; then
	pass "labforge logs store2: the failing step, the reason and the installer's log"
else
	fail "labforge logs store2: the failing step, the reason and the installer's log" \
		"$(cat "$T_OUT" "$T_ERR")"
fi
lf_qemu_start store2
if lf_qemu_wait store2 'labforge: the install of store2 failed at' 120; then
	pass "a failed PC's next PXE boot is not an install"
else
	fail "a failed PC's next PXE boot is not an install" "$(lf_qemu_tail store2 20)"
fi
lf_qemu_stop store2

# --- 5. the node API refuses a wrong token ---------------------------------------------------
before=$(nodes_json)
code=$(lf_netns_exec ap curl -s -o "$T_TMP/body" -w '%{http_code}' -X POST \
	-H "Authorization: Bearer $(printf '%064d' 7)" --data-binary '{"step": "x", "percent": 5}' \
	"http://$APPL:8180/api/v1/nodes/$MAC_KVM/progress")
if [ "$code" = 403 ] && [ "$(nodes_json)" = "$before" ]; then
	pass "progress with a wrong token: 403, nothing changes"
else
	fail "progress with a wrong token: 403, nothing changes" "code $code" "$(cat "$T_TMP/body")"
fi

lf_netns_stop "$serve_pid" 15
rc=$?
if [ $rc -eq 0 ]; then pass "serve stops"; else fail "serve stops" "status $rc"; fi
finish
