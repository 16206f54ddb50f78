#!/usr/bin/env bash
# End to end (issue 3 item 9): installs the storage role on a qemu guest (TCG) with 2 SSDs, 2 HDDs
# and two NICs in standalone mode (manifest and image served over HTTP by this test), then boots
# the disks alone (SeaBIOS -> GRUB on disk -> installed kernel) and checks the running system
# through the QEMU guest agent the role image ships (qemu-guest-agent): nothing is added to the
# installed system, its root password stays locked.
source "$(dirname "$0")/../../lib.sh"
source "$(dirname "$0")/../lib-qemu.sh"

if ! lf_qemu_available; then
	echo "SKIP: $LF_QEMU cannot start a TCG machine here (install qemu-system-x86)"
	exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: building the role image needs root"
	exit 77
fi

build=${LF_LAB_BUILD:-$LF_TOP/build}
images=${LF_IMAGES_DIR:-$build/images}
t0=$SECONDS
run env LF_IMAGES_DIR="$images" "$LF_TOP/images/build-netboot.sh" --installer "$build/bin/labforge-install"
[ "$T_RC" -eq 0 ] || { fail "netboot pair builds" "$(tail -n 20 "$T_ERR")"; finish; exit 1; }
run env LF_IMAGES_DIR="$images" LF_BIN_DIR="$build/bin" "$LF_TOP/images/build-rootfs.sh" storage
[ "$T_RC" -eq 0 ] || { fail "storage image builds" "$(tail -n 20 "$T_ERR")"; finish; exit 1; }
pass "netboot pair and storage image ready ($((SECONDS - t0))s)"

# --- the lab: store1 (management NIC ...:11, storage link ...:12) linked to kvm1 -------------
www=$T_TMP/www
mkdir -p "$www"
cat >"$www/lab.xml" <<'XML'
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
ln -s "$(realpath "$images/storage.tar.zst")" "$www/storage.tar.zst"
sha=$(sha256sum "$images/storage.tar.zst" | cut -d' ' -f1)

# HTTP on a free loopback port; qemu's user network shows the host's loopback as 10.0.2.2.
python3 -u -m http.server --bind 127.0.0.1 --directory "$www" 0 >"$T_TMP/http.log" 2>&1 &
http_pid=$!
trap 'kill "$http_pid" 2>/dev/null; _lfq_cleanup' EXIT
port=''
for _ in $(seq 50); do
	port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$T_TMP/http.log" | head -n 1)
	[ -n "$port" ] && break
	sleep 0.2
done
[ -n "$port" ] || { fail "HTTP server starts" "$(cat "$T_TMP/http.log")"; finish; exit 1; }
url=http://10.0.2.2:$port

# Disk N of every boot is the same file: later guests link the first guest's files.
machine() { # VM
	local vm=$1 n
	lf_qemu_new "$vm"
	if [ "$vm" != inst ]; then
		for n in 0 1 2 3; do ln "$(lf_qemu_disk_file inst $n)" "$T_TMP/$vm/disk$n.raw"; done
	fi
	# Both SSDs above 40 GiB: the smaller (ssd0 by name) is the boot disk and still gives the
	# rest to the fast array. Files are sparse.
	lf_qemu_disk "$vm" ssd 48G lf-ssd0
	lf_qemu_disk "$vm" ssd 48G lf-ssd1
	lf_qemu_disk "$vm" hdd 16G lf-hdd0
	lf_qemu_disk "$vm" hdd 16G lf-hdd1
	lf_qemu_nic "$vm" virtio-net-pci 52:54:00:4c:46:11
	lf_qemu_nic "$vm" virtio-net-pci 52:54:00:4c:46:12
}

# --- 1. install ------------------------------------------------------------------------------
machine inst
lf_qemu_kernel inst "$images/vmlinuz" "$images/initramfs.cpio.gz" \
	"console=ttyS0,115200 panic=-1 labforge.manifest=$url/lab.xml labforge.node=store1 \
labforge.image=$url/storage.tar.zst labforge.sha256=$sha labforge.reboot=0"
t=$SECONDS
lf_qemu_start inst
lf_qemu_wait inst '^labforge: install (complete|failed)' 1500
lf_qemu_wait_exit inst 120
if lf_qemu_console inst | grep -q '^labforge: install complete'; then
	pass "storage install completes ($((SECONDS - t))s)"
else
	fail "storage install completes ($((SECONDS - t))s)" "$(lf_qemu_tail inst 40)"
	finish
	exit 1
fi

# --- 2. boot the installed system from its disks ----------------------------------------------
machine disk
lf_qemu_agent disk
t=$SECONDS
lf_qemu_start disk
lf_qemu_wait disk '^store1 login:' 900
rc=$?
if [ $rc -eq 0 ] && lf_qemu_console disk | grep -q 'GRUB'; then
	pass "installed system boots from disk through GRUB to a login prompt on ttyS0 ($((SECONDS - t))s)"
else
	fail "installed system boots from disk through GRUB to a login prompt on ttyS0 (wait $rc)" \
		"$(lf_qemu_tail disk 60)"
	finish
	exit 1
fi
# Runs a shell command in the installed system; its output on stdout.
gx() { python3 "$LF_TOP/tests/lab/pending/qga-exec.py" "$T_TMP/disk/qga.sock" 180 "$1" 2>&1; }
# networkd done with every link and the NFS server up (the getty comes before them).
if out=$(gx 'i=0; while [ $i -lt 120 ] && { networkctl list --no-legend | grep -q configuring ||
	! systemctl is-active -q nfs-server; }; do sleep 1; i=$((i + 1)); done; echo ready'); then
	pass "guest agent answers ($((SECONDS - t))s after power on)"
else
	fail "guest agent answers" "$out" "$(lf_qemu_tail disk 30)"
	finish
	exit 1
fi

disks=$(gx 'lsblk -dnro NAME,SERIAL')
md=$(gx 'for a in fast bulk; do echo "$a -> $(readlink -f /dev/md/$a)"
	mdadm --detail --export /dev/md/$a; done; cat /proc/mdstat')
serial_of() { # sdXN: the serial of the disk holding it
	awk -v d="${1%%[0-9]*}" '$1 == d { print $2 }' <<<"$disks"
}
check_array() { # NAME SERIAL SERIAL
	local name=$1 members='' m
	for m in $(awk -v a="$name -> " 'index($0, a) == 1 { on = 1; next } / -> / { on = 0 }
		on && /^MD_DEVICE_dev_.*_DEV=/ { sub(/.*=\/dev\//, ""); print }' <<<"$md"); do
		members+="$(serial_of "$m") "
	done
	members=$(xargs -n1 <<<"$members" | sort | xargs)
	if [ "$members" = "$2 $3" ] &&
		awk -v a="$name -> " 'index($0, a) == 1 { on = 1; next } / -> / { on = 0 }
			on && /^MD_LEVEL=raid0$/ { ok = 1 } END { exit !ok }' <<<"$md"; then
		pass "md $name assembled at boot: RAID0 over $2 and $3"
	else
		fail "md $name assembled at boot: RAID0 over $2 and $3" "members: '$members'" "$md" \
			"disks: $disks"
	fi
}
check_array fast lf-ssd0 lf-ssd1
check_array bulk lf-hdd0 lf-hdd1

fast_dev=$(sed -n 's|^fast -> ||p' <<<"$md")
bulk_dev=$(sed -n 's|^bulk -> ||p' <<<"$md")
lv=$(gx 'lvs --reportformat json -o lv_name,vg_name,devices' | jq -r '[.report[].lv[] | "\(.vg_name)/\(.lv_name):\(.devices)"]
	| join(" ")' 2>&1)
if [ -n "$fast_dev" ] && [ "$lv" = "labvg/vmbase:$fast_dev(0)" ]; then
	pass "LV vmbase on the fast array ($fast_dev)"
else
	fail "LV vmbase on the fast array" "got: $lv" "want: labvg/vmbase:$fast_dev(0)"
fi
pvs=$(gx 'pvs --reportformat json --units b --nosuffix -o pv_name,pv_tags,vg_name,pv_size,pv_free')
bulk=$(jq -r --arg d "$bulk_dev" '.report[].pv[] | select(.pv_name == $d)
	| "\(.pv_tags) \(.vg_name) \(.pv_size) \(.pv_free)"' <<<"$pvs" 2>&1)
read -r tag vg size free <<<"$bulk"
if [ "$tag" = bulk ] && [ "$vg" = labvg ] && [ "${free:-0}" -gt 0 ] &&
	[ "$free" = "$size" ]; then
	pass "the bulk PV (tag bulk, labvg) is all free for snapshots ($free bytes)"
else
	fail "the bulk PV (tag bulk, labvg) is all free for snapshots" "$pvs"
fi

mnt=$(gx 'findmnt -rno TARGET,SOURCE,FSTYPE,OPTIONS')
if grep -Eq '^/srv/labforge/base /dev/mapper/labvg-vmbase ext4 .*\bnoatime\b.*\bdata=writeback\b' \
	<<<"$mnt"; then
	pass "vmbase mounted at boot with noatime,data=writeback"
else
	fail "vmbase mounted at boot with noatime,data=writeback" "$mnt"
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

exports=$(gx 'exportfs -v')
if tr -d '\n\t ' <<<"$exports" |
	grep -Eq '^/srv/labforge/vms172\.16\.0\.0/24\(.*\basync\b.*\)' &&
	! tr -d '\n' <<<"$exports" | grep -Eq '\bsync\b'; then
	pass "exportfs -v: /srv/labforge/vms to 172.16.0.0/24, async"
else
	fail "exportfs -v: /srv/labforge/vms to 172.16.0.0/24, async" "$exports"
fi

addr=$(gx 'ip -j addr')
link=$(jq -r '.[] | select(.address == "52:54:00:4c:46:12")
	| "\(.mtu) \([.addr_info[] | select(.family == "inet") | "\(.local)/\(.prefixlen)"]
	| join(","))"' <<<"$addr" 2>&1)
if [ "$link" = "9000 172.16.0.0/31" ]; then
	pass "storage link 52:54:00:4c:46:12 is 172.16.0.0/31 with MTU 9000"
else
	fail "storage link 52:54:00:4c:46:12 is 172.16.0.0/31 with MTU 9000" "got: $link" \
		"$addr"
fi

failed=$(gx 'systemctl --failed --no-legend --plain')
if [ -z "$failed" ]; then
	pass "no failed systemd unit"
else
	fail "no failed systemd unit" "$failed"
fi
gx 'systemctl poweroff' >/dev/null
lf_qemu_wait_exit disk 120 || fail "installed system powers off" "$(lf_qemu_tail disk 20)"
echo "install-storage: total ${SECONDS}s"
finish
