#!/usr/bin/env bash
# End to end (issue 3 items 9 and 10): the storage role on a qemu guest (TCG) with 2 SSDs, 2 HDDs
# and two NICs, installed in standalone mode (manifest and image served over HTTP by this
# test), then booted from its disks alone (SeaBIOS -> GRUB -> installed kernel) and checked
# through the QEMU guest agent the role image ships (nothing is added to the installed system;
# its root password stays locked). On the way:
#  - a corrupted image (one byte changed), fetched into RAM and then in streaming mode, aborts
#    the install with every disk byte-identical to before;
#  - the install is cut (qemu killed: a power cut) after partitioning, after the RAID arrays,
#    after LVM and in the middle of the extraction, the installer booted again each time; the
#    last boot completes, and the installed system is then checked: the layout is the plan's.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib-qemu.sh"
source "$(dirname "$0")/lib-install.sh"

if ! lf_qemu_available; then
	echo "SKIP: $LF_QEMU cannot start a TCG machine here (install qemu-system-x86)"
	exit 77
fi
[ "$(id -u)" -eq 0 ] || { echo "SKIP: building the role image needs root"; exit 77; }
lf_install_images storage || { finish; exit 1; }

# The lab: store1 (management NIC ...:11, storage link ...:12) linked to kvm1.
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
  <template name="tiny" image="tiny.raw" memory="64" vcpus="1"/>
</lab>
XML
lf_install_serve "$T_TMP/lab.xml" storage || { finish; exit 1; }

# Disk N of every boot is the same file: later guests link the first guest's files.
machine() { # VM
	lf_qemu_new "$1"
	[ "$1" = inst ] || lf_install_same_disks "$1" inst 4
	# Both SSDs above 40 GiB: the smaller (ssd0 by name) is the boot disk and still gives the
	# rest to the fast array. Files are sparse.
	lf_qemu_disk "$1" ssd 48G lf-ssd0
	lf_qemu_disk "$1" ssd 48G lf-ssd1
	lf_qemu_disk "$1" hdd 16G lf-hdd0
	lf_qemu_disk "$1" hdd 16G lf-hdd1
	lf_qemu_nic "$1" virtio-net-pci 52:54:00:4c:46:11
	lf_qemu_nic "$1" virtio-net-pci 52:54:00:4c:46:12
}
machine inst

# --- 1. a corrupted image changes nothing --------------------------------------------------
# What an earlier life left on the disks: random bytes at the start, the middle and the end.
for n in 0 1 2 3; do
	f=$(lf_qemu_disk_file inst $n)
	size=$(stat -c %s "$f")
	for at in 0 $((size / 2)) $((size - 1048576)); do
		head -c 1048576 /dev/urandom | dd of="$f" bs=1M seek=$((at / 1048576)) conv=notrunc \
			status=none
	done
done
before=$(lf_disk_digest inst 4)
size=$(stat -c %s "$LFI_IMAGES/storage.tar.zst")
cp "$LFI_IMAGES/storage.tar.zst" "$T_TMP/www/bad.tar.zst"
# One byte in the middle of the image, changed (xor 0xff).
byte=$(od -An -tu1 -j $((size / 2)) -N1 "$T_TMP/www/bad.tar.zst" | tr -d ' ')
printf "\\$(printf '%03o' $((byte ^ 255)))" |
	dd of="$T_TMP/www/bad.tar.zst" bs=1 seek=$((size / 2)) conv=notrunc status=none
for mode in ram stream; do
	t=$SECONDS
	lf_install_run inst store1 storage 900 "labforge.image=$LFI_URL/bad.tar.zst" \
		"labforge.fetch=$mode"
	line=$(lf_qemu_console inst | grep '^labforge: install ' | tail -n 1)
	after=$(lf_disk_digest inst 4)
	if [[ $line == "labforge: install failed"*SHA-256* ]] && [ "$after" = "$before" ]; then
		pass "corrupted image ($mode): install fails before any write, disks byte-identical ($((SECONDS - t))s)"
	else
		fail "corrupted image ($mode): install fails before any write, disks byte-identical" \
			"closing line: $line" "before:" "$before" "after:" "$after" "$(lf_qemu_tail inst 20)"
	fi
done

# --- 2. power cuts at each stage, then a complete install -----------------------------------
# Each cut: what is finished, and the console lines that say so (a second regular expression
# must match a line after the first: 40 MiB written by the extraction, not the download).
cuts=(
	'partitioning;Creating [0-9]+ RAID0 arrays;'
	'the RAID arrays;Creating LVM;'
	'LVM;Creating [0-9]+ file systems;'
	'40 MiB of the extraction;Extracting the image;^\[[0-9]+/[0-9]+\] +[0-9]+% +([4-9][0-9]|[1-9][0-9]{2,})\.[0-9] MiB of'
)
# Waits for a line matching FIRST, then (when THEN is given) one matching THEN after it.
wait_for() { # VM FIRST THEN TIMEOUT
	local end=$((SECONDS + $4))
	while [ $SECONDS -lt $end ] && lf_qemu_running "$1"; do
		if [ -z "$3" ]; then
			lf_qemu_console "$1" | grep -Eq -- "$2" && return 0
		else
			# ENVIRON, not -v: awk would take the regular expressions' backslashes as escapes.
			lf_qemu_console "$1" | A=$2 B=$3 awk 'on && $0 ~ ENVIRON["B"] { f = 1 }
				$0 ~ ENVIRON["A"] { on = 1 } END { exit !f }' && return 0
		fi
		sleep 0.5
	done
	return 1
}
for cut in "${cuts[@]}"; do
	IFS=';' read -r what first then <<<"$cut"
	t=$SECONDS
	lf_install_start inst store1 storage
	if wait_for inst "$first" "$then" 900; then
		lf_qemu_stop inst
		pass "power cut after $what ($((SECONDS - t))s)"
	else
		fail "power cut after $what: the installer got there" "$(lf_qemu_tail inst 30)"
		finish
		exit 1
	fi
done
t=$SECONDS
if lf_install_run inst store1 storage 1500; then
	pass "storage install completes after the four power cuts ($((SECONDS - t))s)"
else
	fail "storage install completes after the four power cuts ($((SECONDS - t))s)" \
		"$(lf_qemu_tail inst 40)"
	finish
	exit 1
fi

# The journal, written once the layout was complete, let the last boot keep the layout of the
# run cut mid-extraction instead of building it again.
if lf_qemu_console inst | grep -q 'Partitions of the interrupted install kept'; then
	pass "the last boot resumed from the journal of the run cut mid-extraction"
else
	fail "the last boot resumed from the journal of the run cut mid-extraction" \
		"$(lf_qemu_console inst | grep -E '^\[[0-9]+/' | grep -v 'MiB of')"
fi

# --- 3. boot the installed system from its disks ----------------------------------------------
machine disk
t=$SECONDS
if lf_install_boot_disk disk store1 900; then
	pass "installed system boots from disk through GRUB to a login prompt on ttyS0 ($((SECONDS - t))s)"
else
	fail "installed system boots from disk through GRUB to a login prompt on ttyS0" \
		"$(lf_qemu_tail disk 60)"
	finish
	exit 1
fi
gx() { lf_install_exec disk "$1"; }
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

lf_install_check_sysctl gx

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

mods=$(gx 'lsinitramfs /boot/initrd.img-$(uname -r) | grep -Eo "[^/]*\.ko(\.[a-z]+)?$" | sort')
if grep -q '^virtio_scsi\.ko' <<<"$mods" && grep -q '^raid0\.ko' <<<"$mods" &&
	[ "$(wc -l <<<"$mods")" -lt 150 ]; then
	pass "initramfs: the disks' driver (virtio_scsi) found by the installer, raid0, $(wc -l <<<"$mods") modules in all"
else
	fail "initramfs: the disks' driver (virtio_scsi) found by the installer, raid0, a short list" \
		"$mods"
fi

# --- The storage runtime on real LVM and NFS (issue 6, item 4): a VM's disk is a snapshot of the
# golden origin with its copy-on-write space on the bulk array, mounted and exported; a reset
# brings back the golden image whatever the VM wrote; delete removes it all. The same code the
# leader's disk commands run, through labforged --disk. ---
golden=$(gx 'head -c 64M /dev/urandom >/srv/labforge/base/tiny.raw && sync &&
	sha256sum </srv/labforge/base/tiny.raw | cut -d" " -f1')
vmsum() { gx 'sha256sum </srv/labforge/vms/pc01/tiny.raw | cut -d" " -f1'; }
if out=$(gx 'labforged --disk disk_create pc01 tiny 2>&1'); then
	pass "labforged --disk disk_create pc01"
else
	fail "labforged --disk disk_create pc01" "$out"
fi
snap=$(gx 'lvs --reportformat json -o lv_name,origin,devices labvg/vm-pc01' |
	jq -r '.report[].lv[] | "\(.lv_name) \(.origin) \(.devices)"' 2>&1)
[ "$snap" = "vm-pc01 vmbase $bulk_dev(0)" ] &&
	pass "pc01's disk: a snapshot of vmbase, copy-on-write on the bulk array" ||
	fail "pc01's disk: a snapshot of vmbase, copy-on-write on the bulk array" "got: $snap" \
		"want: vm-pc01 vmbase $bulk_dev(0)"
mounted=$(gx 'findmnt -rno SOURCE,FSTYPE /srv/labforge/vms/pc01')
[ "$mounted" = "/dev/mapper/labvg-vm--pc01 ext4" ] && pass "mounted at /srv/labforge/vms/pc01" ||
	fail "mounted at /srv/labforge/vms/pc01" "$mounted"
exports=$(gx 'exportfs -v' | tr -d '\n\t ')
grep -Eq '/srv/labforge/vms/pc01172\.16\.0\.0/24\([^)]*fsid=[0-9]+' <<<"$exports" &&
	pass "exported to the storage links with an fsid of its own" ||
	fail "exported to the storage links with an fsid of its own" "$exports"
[ "$(vmsum)" = "$golden" ] && pass "the VM sees the golden image" ||
	fail "the VM sees the golden image" "$(vmsum) != $golden"
gx 'dd if=/dev/zero of=/srv/labforge/vms/pc01/tiny.raw bs=1M count=16 conv=notrunc status=none && sync'
changed=$(vmsum)
origin=$(gx 'sha256sum </srv/labforge/base/tiny.raw | cut -d" " -f1')
[ "$changed" != "$golden" ] && [ "$origin" = "$golden" ] &&
	pass "what the VM writes stays in its snapshot (the origin is unchanged)" ||
	fail "what the VM writes stays in its snapshot" "vm: $changed" "origin: $origin" "golden: $golden"
if out=$(gx 'a=$(date +%s%N); labforged --disk disk_reset pc01 tiny 2>&1 || exit 1
	echo "$((($(date +%s%N) - a) / 1000000)) ms"'); then
	pass "disk_reset pc01 ($out under TCG)"
else
	fail "disk_reset pc01" "$out"
fi
[ "$(vmsum)" = "$golden" ] && pass "after the reset the VM sees the golden image again" ||
	fail "after the reset the VM sees the golden image again" "$(vmsum)"
if out=$(gx 'labforged --disk disk_delete pc01 2>&1 && labforged --disk disk_delete pc01 2>&1'); then
	pass "disk_delete pc01, twice"
else
	fail "disk_delete pc01, twice" "$out"
fi
left=$(gx 'lvs --noheadings -o lv_name labvg; ls /srv/labforge/vms; exportfs -v' | tr -s ' \n\t' ' ')
grep -q 'pc01' <<<"$left" && fail "nothing of pc01 is left" "$left" || pass "nothing of pc01 is left"
out=$(gx 'labforged --disk disk_create pc02 huge 2>&1; echo "exit $?"')
grep -q "the manifest has no template 'huge'" <<<"$out" && grep -q 'exit 2' <<<"$out" &&
	pass "an unknown template is refused (exit 2)" || fail "an unknown template is refused" "$out"

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
