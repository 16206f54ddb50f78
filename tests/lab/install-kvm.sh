#!/usr/bin/env bash
# End to end (issue 3 item 9, kvm half): installs the kvm role on a one-disk qemu guest (TCG) in
# standalone mode, boots the disk from GRUB and checks the running system through its QEMU guest
# agent: no md array, LV scratch on the disk's PV mounted noatime,data=writeback, the tuning in
# effect, libvirtd running, the storage link at 172.16.0.1/31 with MTU 9000 and the VM store's
# NFS mount configured as DESIGN §5.3 says. No storage server runs in this test, so that mount
# is the one unit allowed to fail (tests/lab/install-storage.sh covers the server side).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib-qemu.sh"
source "$(dirname "$0")/lib-install.sh"

if ! lf_qemu_available; then
	echo "SKIP: $LF_QEMU cannot start a TCG machine here (install qemu-system-x86)"
	exit 77
fi
[ "$(id -u)" -eq 0 ] || { echo "SKIP: building the role image needs root"; exit 77; }
lf_install_images kvm || { finish; exit 1; }

cat >"$T_TMP/lab.xml" <<'XML'
<lab name="e2e">
  <appliance interface="eth0" address="10.0.2.2/24"/>
  <network>
    <management subnet="10.0.2.0/24" gateway="10.0.2.2"/>
    <storage-links subnet="172.16.0.0/24"/>
  </network>
  <node name="store1" role="storage" mac="52:54:00:4c:46:11"/>
  <node name="kvm1" role="kvm" mac="52:54:00:4c:46:21"/>
  <link a="store1:52:54:00:4c:46:12" b="kvm1:52:54:00:4c:46:22"/>
</lab>
XML
lf_install_serve "$T_TMP/lab.xml" kvm || { finish; exit 1; }

machine() { # VM: one SSD above 40 GiB (root plus a PV), management NIC and storage link
	lf_qemu_new "$1"
	[ "$1" = inst ] || lf_install_same_disks "$1" inst 1
	lf_qemu_disk "$1" ssd 48G lf-ssd0
	lf_qemu_nic "$1" virtio-net-pci 52:54:00:4c:46:21
	lf_qemu_nic "$1" virtio-net-pci 52:54:00:4c:46:22
}

machine inst
t=$SECONDS
if lf_install_run inst kvm1 kvm 1500; then
	pass "kvm install completes ($((SECONDS - t))s)"
else
	fail "kvm install completes ($((SECONDS - t))s)" "$(lf_qemu_tail inst 40)"
	finish
	exit 1
fi

machine disk
t=$SECONDS
if lf_install_boot_disk disk kvm1 900; then
	pass "installed system boots from disk through GRUB to a login prompt on ttyS0 ($((SECONDS - t))s)"
else
	fail "installed system boots from disk through GRUB to a login prompt on ttyS0" \
		"$(lf_qemu_tail disk 60)"
	finish
	exit 1
fi
gx() { lf_install_exec disk "$1"; }
if out=$(gx 'i=0; while [ $i -lt 120 ] && networkctl list --no-legend | grep -q configuring
	do sleep 1; i=$((i + 1)); done; echo ready'); then
	pass "guest agent answers ($((SECONDS - t))s after power on)"
else
	fail "guest agent answers" "$out" "$(lf_qemu_tail disk 30)"
	finish
	exit 1
fi

md=$(gx 'cat /proc/mdstat')
if ! grep -q '^md' <<<"$md"; then
	pass "no md array on a one-disk node"
else
	fail "no md array on a one-disk node" "$md"
fi

disks=$(gx 'lsblk -rno NAME,SERIAL,PKNAME')
pvs=$(gx 'pvs --reportformat json -o pv_name,pv_tags,vg_name')
pv=$(jq -r '.report[].pv[] | "\(.pv_name) \(.pv_tags) \(.vg_name)"' <<<"$pvs" 2>&1)
read -r pv_dev pv_tag pv_vg <<<"$pv"
pv_disk=$(awk -v p="${pv_dev#/dev/}" '$1 == p { print $3 }' <<<"$disks")
pv_serial=$(awk -v d="$pv_disk" '$1 == d { print $2 }' <<<"$disks")
if [ "$(wc -l <<<"$pv")" = 1 ] && [ "$pv_tag" = fast ] && [ "$pv_vg" = labvg ] &&
	[ "$pv_serial" = lf-ssd0 ]; then
	pass "one PV ($pv_dev on lf-ssd0), tag fast, in labvg"
else
	fail "one PV on lf-ssd0, tag fast, in labvg" "$pvs" "$disks"
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

sysctl=$(gx 'sysctl net.core.optmem_max net.core.rmem_default net.core.wmem_default \
	net.core.rmem_max net.core.wmem_max net.ipv4.tcp_rmem net.ipv4.tcp_wmem')
want_sysctl="net.core.optmem_max = 262144
net.core.rmem_default = 262144
net.core.wmem_default = 262144
net.core.rmem_max = 8388608
net.core.wmem_max = 8388608
net.ipv4.tcp_rmem = 4096	87380	8388608
net.ipv4.tcp_wmem = 4096	65536	8388608"
if [ "$sysctl" = "$want_sysctl" ]; then
	pass "tuning sysctls in effect"
else
	fail "tuning sysctls in effect" "got:" "$sysctl" "want:" "$want_sysctl"
fi

addr=$(gx 'ip -j addr')
link=$(jq -r '.[] | select(.address == "52:54:00:4c:46:22")
	| "\(.mtu) \([.addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"]
	| join(","))"' <<<"$addr" 2>&1)
if [ "$link" = "9000 172.16.0.1/31" ]; then
	pass "storage link 52:54:00:4c:46:22 is 172.16.0.1/31 with MTU 9000"
else
	fail "storage link 52:54:00:4c:46:22 is 172.16.0.1/31 with MTU 9000" "got: $link" "$addr"
fi

state=$(gx 'systemctl is-active libvirtd.service')
if [ "$state" = active ]; then
	pass "libvirtd runs"
else
	fail "libvirtd runs" "$state"
fi
failed=$(gx 'systemctl --failed --no-legend --plain' | awk '{ print $1 }' |
	grep -vx -e srv-labforge-vms.mount -e remote-fs.target)
if [ -z "$failed" ]; then
	pass "no failed systemd unit but the VM store mount (no storage server here)"
else
	fail "no failed systemd unit but the VM store mount (no storage server here)" "$failed"
fi
gx 'systemctl poweroff' >/dev/null
lf_qemu_wait_exit disk 120 || fail "installed system powers off" "$(lf_qemu_tail disk 20)"
echo "install-kvm: total ${SECONDS}s"
finish
