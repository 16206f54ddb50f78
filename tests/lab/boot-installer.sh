#!/usr/bin/env bash
# Boots the installer netboot pair in qemu (TCG) with 2 SSDs, 2 HDDs, a virtio boot disk and two
# NICs, and checks what the installer environment sees and can do: disk kinds, NICs, DHCP, the
# probe, GRUB for BIOS and UEFI, real md RAID0 and LVM (tests/lab/guest/md-lvm.sh runs inside,
# handed over through fw_cfg). A second boot runs the install path with an unreadable plan.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib-qemu.sh"

if ! lf_qemu_available; then
	echo "SKIP: $LF_QEMU cannot start a TCG machine here (install qemu-system-x86)"
	exit 77
fi

installer=${LF_LAB_BUILD:-$LF_TOP/build}/bin/labforge-install
images=${LF_IMAGES_DIR:-${LF_LAB_BUILD:-$LF_TOP/build}/images}
run env LF_IMAGES_DIR="$images" "$LF_TOP/images/build-netboot.sh" --installer "$installer"
if [ "$T_RC" -ne 0 ]; then
	fail "netboot pair builds" "$(tail -n 20 "$T_ERR")"
	finish
	exit 1
fi
pass "netboot pair builds ($(tail -n 1 "$T_OUT"))"

lf_qemu_new vm
lf_qemu_disk vm ssd 10G lf-ssd0
lf_qemu_disk vm ssd 10G lf-ssd1
lf_qemu_disk vm hdd 20G lf-hdd0
lf_qemu_disk vm hdd 20G lf-hdd1
lf_qemu_disk vm virtio 1G lf-boot
lf_qemu_nic vm virtio-net-pci 52:54:00:4c:46:01
lf_qemu_nic vm e1000 52:54:00:4c:46:02
lf_qemu_fw_cfg vm opt/labforge/script "$LF_TOP/tests/lab/guest/md-lvm.sh"
lf_qemu_kernel vm "$images/vmlinuz" "$images/initramfs.cpio.gz" \
	"console=ttyS0,115200 panic=-1 labforge.test=1 labforge.net=dhcp labforge.reboot=0"
start=$SECONDS
lf_qemu_start vm
lf_qemu_wait vm '^labforge: test (complete|failed)' 240
rc=$?
boot=$((SECONDS - start))
if [ $rc -eq 0 ] && lf_qemu_console vm | grep -q '^labforge: test complete'; then
	pass "guest script completes (${boot}s)"
else
	fail "guest script completes (wait status $rc after ${boot}s)" "$(lf_qemu_tail vm 40)"
fi
if lf_qemu_wait_exit vm 60; then
	pass "guest powers off with labforge.reboot=0"
else
	fail "guest powers off with labforge.reboot=0" "$(lf_qemu_tail vm 10)"
fi

# --- disks and NICs as the kernel sees them ---------------------------------------------------
disks=$(lf_qemu_section vm disks)
check_disk() { # SERIAL ROTATIONAL
	local line
	line=$(grep " serial=$1 " <<<"$disks")
	if grep -q " rotational=$2 " <<<"$line"; then
		pass "$1 has rotational=$2"
	else
		fail "$1 has rotational=$2" "disks: $disks"
	fi
}
check_disk lf-ssd0 0
check_disk lf-ssd1 0
check_disk lf-hdd0 1
check_disk lf-hdd1 1
dev_of() { grep " serial=$1 " <<<"$disks" | cut -d' ' -f1; }

nics=$(lf_qemu_section vm nics)
if grep -q 'mac=52:54:00:4c:46:01 driver=virtio_net' <<<"$nics" &&
	grep -q 'mac=52:54:00:4c:46:02 driver=e1000' <<<"$nics"; then
	pass "both NICs have their drivers"
else
	fail "both NICs have their drivers" "nics: $nics"
fi
if lf_qemu_console vm | grep -Eq '^labforge: network: [a-z0-9]+ 10\.0\.2\.15/'; then
	pass "DHCP lease on labforge.net=dhcp"
else
	fail "DHCP lease on labforge.net=dhcp" "$(lf_qemu_console vm | grep '^labforge:')"
fi

# --- the probe, once labforge-install has it --------------------------------------------------
probe_status=$(lf_qemu_section vm probe-status)
if grep -q "unknown verb 'probe'" <<<"$probe_status"; then
	skip "probe reports each disk's kind" "labforge-install has no probe verb yet"
elif ! grep -q '^probe-status=0$' <<<"$probe_status"; then
	fail "probe reports each disk's kind" "$probe_status"
else
	probe=$(lf_qemu_section vm probe)
	# The probe's rotational flag of every disk against the kernel's, serial by serial.
	got=$(jq -r '[.disks[] | "\(.serial)=\(.rotational)"] | sort | join(" ")' <<<"$probe" 2>&1)
	want=$(sed -E 's/^[^ ]+ rotational=([01]) serial=([^ ]*) .*/\2=\1/' <<<"$disks" |
		sed 's/=0$/=false/; s/=1$/=true/' | sort | xargs)
	if [ -n "$want" ] && [ "$got" = "$want" ]; then
		pass "probe reports each disk's kind as the kernel does ($got)"
	else
		fail "probe reports each disk's kind as the kernel does" "got:  $got" "want: $want"
	fi
fi

# --- GRUB for BIOS and UEFI on the boot disk -------------------------------------------------
grub=$(lf_qemu_section vm grub)
if grep -qx 'grub-install i386-pc: 0' <<<"$grub" &&
	head -c 440 "$(lf_qemu_disk_file vm 4)" | grep -aq GRUB; then
	pass "grub-install i386-pc writes GRUB's boot code to the MBR"
else
	fail "grub-install i386-pc writes GRUB's boot code to the MBR" "$grub"
fi
if grep -qx 'grub-install x86_64-efi: 0' <<<"$grub" &&
	grep -qx '/target/boot/efi/EFI/BOOT/BOOTX64.EFI' <<<"$grub"; then
	pass "grub-install x86_64-efi puts EFI/BOOT/BOOTX64.EFI on the ESP"
else
	fail "grub-install x86_64-efi puts EFI/BOOT/BOOTX64.EFI on the ESP" "$grub"
fi

# --- md RAID0 arrays from the right disks -----------------------------------------------------
md=$(lf_qemu_section vm md)
check_array() { # NAME SERIAL SERIAL
	local name=$1 dev members want
	dev=$(sed -n "s|^$name -> /dev/||p" <<<"$md")
	# mdadm --detail --export lists members as MD_DEVICE_dev_<name>_DEV=/dev/<name>.
	members=$(awk -v a="$name -> " 'index($0, a) == 1 { on = 1; next } / -> / { on = 0 }
		on && /^MD_DEVICE_dev_.*_DEV=/ { sub(/.*=\/dev\//, ""); print }' <<<"$md" | sort | xargs)
	want=$(printf '%s\n' "$(dev_of "$2")" "$(dev_of "$3")" | sort | xargs)
	if [ -n "$dev" ] && grep -q "^$dev : active raid0 " <<<"$md" &&
		awk -v a="$name -> " 'index($0, a) == 1 { on = 1; next } / -> / { on = 0 }
			on && /^MD_LEVEL=raid0$/ { ok = 1 } END { exit !ok }' <<<"$md" &&
		[ -n "$members" ] && [ "$members" = "$want" ]; then
		pass "md $name is RAID0 over $2 and $3 ($members)"
	else
		fail "md $name is RAID0 over $2 and $3" "members: '$members', want '$want'" "$md"
	fi
}
check_array fast lf-ssd0 lf-ssd1
check_array bulk lf-hdd0 lf-hdd1

# --- LVM: tagged PVs in labvg, vmbase on the fast array ---------------------------------------
lvm=$(lf_qemu_section vm lvm)
fast_dev=$(sed -n 's|^fast -> ||p' <<<"$md")
bulk_dev=$(sed -n 's|^bulk -> ||p' <<<"$md")
pvs=$(jq -rs '[.[] | .report[]? | .pv[]? | "\(.pv_name):\(.pv_tags):\(.vg_name)"] | sort
	| join(" ")' <<<"$lvm" 2>&1)
want=$(printf '%s\n' "$fast_dev:fast:labvg" "$bulk_dev:bulk:labvg" | sort | xargs)
if [ "$pvs" = "$want" ]; then
	pass "PVs tagged fast/bulk in labvg"
else
	fail "PVs tagged fast/bulk in labvg" "got: $pvs" "want: $want"
fi
lv=$(jq -rs '[.[] | .report[]? | .lv[]? | "\(.vg_name)/\(.lv_name):\(.devices)"]
	| join(" ")' <<<"$lvm" 2>&1)
if [ "$lv" = "labvg/vmbase:$fast_dev(0)" ]; then
	pass "LV vmbase lives on the fast PV"
else
	fail "LV vmbase lives on the fast PV" "got: $lv" "want: labvg/vmbase:$fast_dev(0)"
fi

# --- the file system --------------------------------------------------------------------------
mounts=$(lf_qemu_section vm mounts)
if grep -Eq '^/dev/(mapper/labvg-vmbase|labvg/vmbase) /mnt/vmbase ext4 .*\bnoatime\b.*\bdata=writeback\b' \
	<<<"$mounts" && grep -qx 'labforge lab' <<<"$mounts"; then
	pass "vmbase mounted ext4 noatime,data=writeback, data survives a remount"
else
	fail "vmbase mounted ext4 noatime,data=writeback, data survives a remount" "$mounts"
fi

# --- the install path: the last console line says how it ended -------------------------------
lf_qemu_new inst
lf_qemu_disk inst ssd 10G lf-ssd0
lf_qemu_kernel inst "$images/vmlinuz" "$images/initramfs.cpio.gz" \
	"console=ttyS0,115200 panic=-1 labforge.plan=/nonexistent/plan.json labforge.reboot=0"
lf_qemu_start inst
if lf_qemu_wait_exit inst 180; then
	pass "install path powers off with labforge.reboot=0"
else
	fail "install path powers off with labforge.reboot=0" "$(lf_qemu_tail inst 10)"
fi
last=$(lf_qemu_console inst | grep '^labforge: ' | tail -n 1)
if [[ $last == "labforge: install failed: "* ]]; then
	pass "install without a readable plan ends with '$last'"
else
	fail "install without a readable plan ends with 'labforge: install failed: ...'" \
		"last line: $last" "$(lf_qemu_tail inst 10)"
fi

finish
