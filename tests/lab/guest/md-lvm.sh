# shellcheck shell=dash # runs under busybox ash
# Runs inside the installer initramfs (labforge.test=1, handed over through fw_cfg): prints the
# disks, NICs and the probe's inventory, installs GRUB (BIOS and UEFI) on the virtio disk, builds
# the storage role's layout by hand with real md and LVM (DESIGN §5.3) and prints what the
# kernel and the tools report, for tests/lab/boot-installer.sh to check.
set -u
begin() { echo "=== BEGIN $1 ==="; }
end() { echo "=== END $1 ==="; }
step() { # NAME CMD...: runs CMD, reports a failure by name
	if ! "$@" >/tmp/step.out 2>&1; then
		echo "STEP FAILED: $*"
		cat /tmp/step.out
		return 1
	fi
}
# SCSI disks: vpd_pg80, a 4-byte header, then the serial number; sysfs wants it read whole, not
# seeked. virtio disks: /sys/block/vdX/serial.
# shellcheck disable=SC2002
serial() {
	case $1 in
	vd*) cat "/sys/block/$1/serial" ;;
	*) cat "/sys/block/$1/device/vpd_pg80" 2>/dev/null | tail -c +5 | tr -d '\000 ' ;;
	esac
}
with_serial() { # PREFIX: /dev/ paths of the disks whose serial starts with PREFIX
	local d
	for d in /sys/block/sd* /sys/block/vd*; do
		d=${d##*/}
		case $(serial "$d") in "$1"*) echo "/dev/$d" ;; esac
	done
}

begin disks
for d in /sys/block/sd* /sys/block/vd*; do
	n=${d##*/}
	echo "$n rotational=$(cat "$d/queue/rotational") serial=$(serial "$n")" \
		"sectors=$(cat "$d/size") hctl=$(basename "$(readlink -f "$d/device")")"
done
end disks

begin nics
for d in /sys/class/net/*; do
	n=${d##*/}
	[ "$n" = lo ] && continue
	echo "$n mac=$(cat "$d/address") driver=$(basename "$(readlink -f "$d/device/driver")")"
done
end nics

begin probe
labforge-install probe --format json 2>/tmp/probe.err
echo "probe-status=$?" >/tmp/probe.status
end probe
begin probe-status
cat /tmp/probe.status
head -c 2000 /tmp/probe.err
end probe-status

failed=0

# GRUB for both firmware kinds, the way the installer will: BIOS boot partition + ESP + /boot.
boot=$(with_serial lf-boot)
begin grub
if [ -n "$boot" ] &&
	step sgdisk -n1:1M:+1M -t1:ef02 -n2:0:+64M -t2:ef00 -n3:0:+128M -t3:8300 "$boot" &&
	step mkfs.vfat -F 32 -n ESP "${boot}2" &&
	step mkfs.ext4 -q "${boot}3" &&
	mkdir -p /target && step mount "${boot}3" /target &&
	mkdir -p /target/boot/efi && step mount "${boot}2" /target/boot/efi; then
	grub-install --target=i386-pc --boot-directory=/target/boot "$boot" >/tmp/grub.out 2>&1
	echo "grub-install i386-pc: $?"
	grub-install --target=x86_64-efi --efi-directory=/target/boot/efi \
		--boot-directory=/target/boot --removable --no-nvram >>/tmp/grub.out 2>&1
	echo "grub-install x86_64-efi: $?"
	find /target/boot/efi/EFI -type f
	ls /target/boot/grub
	cat /tmp/grub.out
	umount /target/boot/efi /target
else
	failed=1
fi
end grub

ssd=$(with_serial lf-ssd) hdd=$(with_serial lf-hdd)
# shellcheck disable=SC2086 # device lists
step mdadm --create /dev/md/fast --run --level=0 --raid-devices=2 --metadata=1.2 $ssd &&
	step mdadm --create /dev/md/bulk --run --level=0 --raid-devices=2 --metadata=1.2 $hdd &&
	step pvcreate /dev/md/fast /dev/md/bulk &&
	step vgcreate labvg /dev/md/fast /dev/md/bulk &&
	step pvchange --addtag fast /dev/md/fast &&
	step pvchange --addtag bulk /dev/md/bulk &&
	step lvcreate --yes -n vmbase -L 64M labvg /dev/md/fast &&
	step mkfs.ext4 -q /dev/labvg/vmbase &&
	mkdir -p /mnt/vmbase &&
	step mount -o noatime,data=writeback /dev/labvg/vmbase /mnt/vmbase &&
	echo "labforge lab" >/mnt/vmbase/hello &&
	step umount /mnt/vmbase &&
	step mount -o noatime,data=writeback /dev/labvg/vmbase /mnt/vmbase || exit 1

begin md
for a in fast bulk; do
	echo "$a -> $(readlink -f /dev/md/$a)"
	mdadm --detail --export /dev/md/$a
done
cat /proc/mdstat
end md

begin lvm
pvs --reportformat json -o pv_name,pv_tags,vg_name
lvs --reportformat json -o lv_name,vg_name,devices
end lvm

begin mounts
grep ' /mnt/vmbase ' /proc/mounts
cat /mnt/vmbase/hello
end mounts
exit $failed
