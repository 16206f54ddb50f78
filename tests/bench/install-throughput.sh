#!/usr/bin/env bash
# Benchmark (figures only, never a pass/fail on time): inside a qemu guest (TCG) booted into the
# installer, the extraction of a role image (`labforge-install extract`: libarchive, zstd, the
# file system of the target) against a raw sequential write of the same number of bytes to the
# same file system (dd, synced), the physical limit of that target. The guest prints both rates
# and their ratio; the download and SHA-256 check before the extraction are not timed.
#
#   tests/bench/install-throughput.sh [ROLE]     (default storage; root: builds the images)
#   LF_LAB_BUILD   the build whose binaries go into the images (default build/)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lab/lib-qemu.sh"
source "$(dirname "$0")/../lab/lib-install.sh"
role=${1:-storage}
say() { echo "install-throughput: $*"; }

lf_qemu_available || { say "$LF_QEMU cannot start a TCG machine here"; exit 2; }
[ "$(id -u)" -eq 0 ] || { say "building the images needs root"; exit 2; }
lf_install_images "$role" >/dev/null || { say "the images do not build"; cat "$T_ERR"; exit 1; }
printf '<lab name="bench"><node name="x" role="%s" mac="52:54:00:4c:46:99"/></lab>\n' "$role" \
	>"$T_TMP/lab.xml"
lf_install_serve "$T_TMP/lab.xml" "$role" || { say "cannot serve the image"; exit 1; }

# The guest script (busy-box ash in the installer): an ext4 target on the SSD, as the install
# makes its root file system; the extraction; then dd of the same size, synced, on the same
# file system.
cat >"$T_TMP/bench.sh" <<SCRIPT
set -eu
mkfs.ext4 -q -F /dev/sda
mkdir -p /target
mount -o noatime /dev/sda /target
out=\$(labforge-install extract --image $LFI_URL/$role.tar.zst --sha256 $LFI_SHA --target /target)
echo "=== BEGIN bench ==="
echo "\$out"
bytes=\$(echo "\$out" | sed -n 's/^extracted \\([0-9]*\\) bytes.*/\\1/p')
esecs=\$(echo "\$out" | sed -n 's/.* in \\([0-9.]*\\) s: .*/\\1/p')
mib=\$((bytes / 1048576))
t0=\$(cut -d' ' -f1 /proc/uptime)
dd if=/dev/zero of=/target/raw bs=1M count=\$mib conv=fsync 2>/dev/null
t1=\$(cut -d' ' -f1 /proc/uptime)
awk -v b="\$bytes" -v e="\$esecs" -v t0="\$t0" -v t1="\$t1" 'BEGIN {
	r = t1 - t0; if (r <= 0) r = 0.01
	printf "raw sequential write of %d MiB (dd, synced) in %.2f s: %.1f MiB/s\n", b / 1048576, r, b / 1048576 / r
	printf "extraction / raw write: %.2f\n", (b / 1048576 / e) / (b / 1048576 / r)
}'
echo "=== END bench ==="
SCRIPT
lf_qemu_new vm
lf_qemu_disk vm ssd 16G lf-ssd0
lf_qemu_nic vm virtio-net-pci 52:54:00:4c:46:99
lf_qemu_fw_cfg vm opt/labforge/script "$T_TMP/bench.sh"
lf_qemu_kernel vm "$LFI_IMAGES/vmlinuz" "$LFI_IMAGES/initramfs.cpio.gz" \
	"console=ttyS0,115200 panic=-1 labforge.test=1 labforge.net=dhcp labforge.reboot=0"
lf_qemu_start vm
if ! lf_qemu_wait vm '^labforge: test (complete|failed)' 1800 ||
	! lf_qemu_console vm | grep -q '^labforge: test complete'; then
	say "the guest did not finish:"
	lf_qemu_tail vm 30
	exit 1
fi
lf_qemu_wait_exit vm 60 || true
say "$role image, TCG guest (2 vCPUs, 1 GiB), ext4 on a virtio-scsi SSD backed by a sparse file:"
lf_qemu_section vm bench | sed 's/^/  /'
