#!/usr/bin/env bash
# Builds the installer netboot pair, $LF_IMAGES_DIR/{vmlinuz,initramfs.cpio.gz}, and its entries
# in images.json. Reproducible (SOURCE_DATE_EPOCH) and cached: unchanged inputs rebuild nothing.
#
#   images/build-netboot.sh [--installer PATH]
#     --installer PATH   labforge-install to put in the image (default build/bin/labforge-install,
#                        or $LF_INSTALLER_BIN)
#   LF_IMAGES_DIR        output directory (default build/images)
#   LF_IMAGES_CACHE      downloaded .deb files (default $LF_IMAGES_DIR/cache)
#
# The kernel, busybox and GRUB come from Debian packages that are only downloaded
# (`apt-get download`) and unpacked here, never installed on the build machine: CI installs
# nothing system-wide for them. The tools (mdadm, lvm, mkfs.*, ...) are the build machine's
# own, copied with their shared libraries the way initramfs-tools' copy_exec does.
set -euo pipefail
umask 022
self=$(realpath "$0")
top=$(dirname "$(dirname "$self")")
say() { echo "build-netboot: $*"; }
die() { echo "build-netboot: $*" >&2; exit 1; }

# Paths given by the caller are relative to where it runs; the defaults to the source tree.
installer=${LF_INSTALLER_BIN:-$top/build/bin/labforge-install}
while [ $# -gt 0 ]; do
	case $1 in
	--installer) installer=${2:?--installer needs a path}; shift 2 ;;
	*) echo "usage: $0 [--installer PATH]" >&2; exit 2 ;;
	esac
done
[ -x "$installer" ] || die "$installer: not built; run 'make all' (or pass --installer PATH)"
installer=$(realpath "$installer")
out=${LF_IMAGES_DIR:-$top/build/images}
cache=${LF_IMAGES_CACHE:-$out/cache}
mkdir -p "$out" "$cache"
out=$(realpath "$out") cache=$(realpath "$cache")
cd "$top"

# Debian packages unpacked into the image; the kernel is whatever linux-image-amd64 points to.
DEBS=(busybox-static grub-common grub2-common grub-pc-bin grub-efi-amd64-bin libefiboot1
	libefivar1)
# Build-machine tools copied with their libraries, and the Debian packages they come from.
HOST_TOOLS=(mdadm lvm dmsetup mke2fs e2fsck tune2fs mkfs.fat fsck.fat wipefs sfdisk sgdisk
	blkid blockdev partx lsblk)
HOST_PACKAGES=(mdadm lvm2 dmsetup e2fsprogs dosfstools util-linux fdisk gdisk libc6)
# GRUB executables from the unpacked packages: enough for grub-install on BIOS and UEFI.
GRUB_TOOLS=(usr/sbin/grub-install usr/sbin/grub-probe usr/bin/grub-mkimage usr/bin/grub-editenv
	usr/bin/grub-mkrelpath usr/lib/grub/i386-pc/grub-bios-setup)
# Other names of the copied tools (lvm and e2fsprogs pick their job by argv[0]).
LINKS=(mkfs.ext4:mke2fs fsck.ext4:e2fsck mkfs.vfat:mkfs.fat fsck.vfat:fsck.fat
	pvcreate:lvm pvremove:lvm pvs:lvm pvscan:lvm pvchange:lvm pvdisplay:lvm
	vgcreate:lvm vgremove:lvm vgs:lvm vgscan:lvm vgchange:lvm vgdisplay:lvm vgextend:lvm
	lvcreate:lvm lvremove:lvm lvs:lvm lvscan:lvm lvchange:lvm lvdisplay:lvm lvextend:lvm
	lvresize:lvm)
# Kernel modules (with their dependencies): disks, md/dm, file systems, common NICs, and
# qemu_fw_cfg through which the lab tests hand scripts to the guest. vfat mounts need nls_ascii,
# Debian's default iocharset.
MODULES=(virtio_pci virtio_blk virtio_scsi virtio_net sd_mod ahci nvme e1000 e1000e igb ixgbe
	i40e r8169 raid0 md_mod dm_mod dm_snapshot crc32c_generic ext4 vfat nls_cp437
	nls_ascii nls_iso8859-1 loop af_packet qemu_fw_cfg)

exec 9>"$out/.netboot.lock"
flock 9

# --- Debian packages: resolve the candidate versions, download what the cache lacks ---------

# PACKAGE... -> "PACKAGE VERSION SHA256 DEPENDS" of each candidate version (one slow apt-cache).
apt_records() {
	apt-cache show --no-all-versions "$@" 2>/dev/null | awk '
		/^Package: / { p = $2 } /^Version: / { v[p] = $2 } /^SHA256: / { s[p] = $2 }
		/^Depends: / { d[p] = $2 }
		END { for (p in v) print p, v[p], s[p], d[p] }'
}
apt_updated=0
records() { # PACKAGE...: apt_records, after an apt-get update if apt does not know them all
	local r
	r=$(apt_records "$@")
	if [ "$(wc -l <<<"$r")" -lt $# ] && [ $apt_updated = 0 ]; then
		say "apt does not know all of $*; running apt-get update" >&2
		apt-get update -qq >&2 || true
		apt_updated=1
		r=$(apt_records "$@")
	fi
	[ "$(wc -l <<<"$r")" -ge $# ] ||
		die "apt knows not all of $* (is Debian bookworm in sources.list?)"
	echo "$r"
}
fetch() { # PACKAGE VERSION SHA256 -> path of the verified .deb in the cache
	local pkg=$1 ver=$2 sum=$3 f
	f="$cache/${pkg}_${ver//:/%3a}_amd64.deb"
	if [ ! -f "$f" ] || [ "$(sha256sum <"$f" | cut -d' ' -f1)" != "$sum" ]; then
		rm -f "$cache/${pkg}_"*.deb
		say "downloading $pkg $ver" >&2
		(cd "$cache" && apt-get download -qq -o APT::Sandbox::User=root "$pkg=$ver") >&2 ||
			die "apt-get download $pkg=$ver failed"
		[ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$sum" ] || die "$f: SHA-256 mismatch"
	fi
	echo "$f"
}

kernel_record=$(records linux-image-amd64)
read -r _ _ _ kpkg <<<"$kernel_record"
[[ $kpkg == linux-image-*-amd64 ]] || die "linux-image-amd64 depends on '$kpkg', not a kernel"
kver=${kpkg#linux-image-}

declare -A deb_file deb_version
deb_lines=()
deb_records=$(records "$kpkg" "${DEBS[@]}" | LC_ALL=C sort)
while read -r pkg ver sum _; do
	deb_file[$pkg]=$(fetch "$pkg" "$ver" "$sum")
	deb_version[$pkg]=$ver
	deb_lines+=("deb $pkg $ver $sum")
done <<<"$deb_records"

work=$out/.netboot-work
rm -rf "$work"
mkdir -p "$work/debs"
trap 'rm -rf "$work"' EXIT
for pkg in "${DEBS[@]}"; do dpkg-deb -x "${deb_file[$pkg]}" "$work/debs"; done
debs=$work/debs

# --- The file plan: "file SOURCE DEST" or "link TARGET DEST" for everything the image copies --

# Destinations use the /usr-merged names (bin, sbin, lib, lib64 are links into /usr).
usr_path() {
	case $1 in
	/bin/* | /sbin/* | /lib/* | /lib64/*) echo "/usr$1" ;;
	*) echo "$1" ;;
	esac
}
declare -A planned
plan=()
plan_file() { # SOURCE [DESTINATION]; a symbolic link is planned as link + its target
	local src=$1 dest=${2:-}
	[ -n "$dest" ] || dest=$(usr_path "${src#"$debs"}")
	[ -z "${planned[$dest]:-}" ] || return 0
	planned[$dest]=1
	if [ -L "$src" ]; then
		local real
		real=$(realpath "$src")
		plan_file "$real"
		plan+=("link $(usr_path "${real#"$debs"}") $dest")
	else
		plan+=("file $src $dest")
	fi
}
# copy_exec: the executable, each library ldd resolves, and the dynamic loader.
plan_exec() { # SOURCE [DESTINATION]
	local libs lib
	libs=$(LD_LIBRARY_PATH="$debs/usr/lib/x86_64-linux-gnu:$debs/lib/x86_64-linux-gnu" \
		ldd "$1" | awk '/not found/ { exit 1 }
			$2 == "=>" && $3 ~ /^\// { print $3; next }
			$1 ~ /^\// { print $1 }') || die "$1: ldd cannot resolve its libraries"
	plan_file "$@"
	for lib in $libs; do plan_file "$lib"; done
}

for t in "${HOST_TOOLS[@]}"; do
	src=$(PATH=/usr/sbin:/usr/bin type -P "$t") || die "$t: not installed (./build.sh deps)"
	plan_exec "$src"
done
for t in "${GRUB_TOOLS[@]}"; do plan_exec "$debs/$t"; done
plan_exec "$installer" /usr/sbin/labforge-install
plan_file /etc/mke2fs.conf
# mkfs.fat converts volume labels through code page 850 with iconv.
plan_file /usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache
plan_exec /usr/lib/x86_64-linux-gnu/gconv/IBM850.so
plan_file "$top/images/initramfs/init" /init
plan_file "$top/images/initramfs/lvm.conf" /etc/lvm/lvm.conf
plan_file "$top/images/initramfs/mdadm.conf" /etc/mdadm/mdadm.conf
plan_file "$top/images/initramfs/udhcpc.script" /usr/share/udhcpc/default.script
plan_file "$debs/bin/busybox" /usr/bin/busybox

# --- Cache check: a digest of every input ---------------------------------------------------

SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct -- images 2>/dev/null || true)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
export SOURCE_DATE_EPOCH
inputs=$work/inputs
{
	echo "source_date_epoch $SOURCE_DATE_EPOCH"
	echo "builder $(sha256sum <"$self" | cut -d' ' -f1)"
	echo "modules ${MODULES[*]}"
	echo "links ${LINKS[*]}"
	printf '%s\n' "${deb_lines[@]}"
	for p in "${plan[@]}"; do
		read -r kind src dest <<<"$p"
		if [ "$kind" = file ]; then
			echo "file $dest $(sha256sum <"$src" | cut -d' ' -f1)"
		else
			echo "link $dest $src"
		fi
	done
} >"$inputs"
digest=$(sha256sum <"$inputs" | cut -d' ' -f1)
if [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ] &&
	[ "$(cat "$out/.netboot.inputs.sha256" 2>/dev/null)" = "$digest" ]; then
	say "netboot pair up to date (inputs ${digest:0:12})"
	exit 0
fi

# --- Build ----------------------------------------------------------------------------------

start=$SECONDS
root=$work/root
mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/{dev,proc,sys,run,tmp,mnt,etc/labforge}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
chmod 1777 "$root/tmp"

for p in "${plan[@]}"; do
	read -r kind src dest <<<"$p"
	mkdir -p "$root$(dirname "$dest")"
	if [ "$kind" = file ]; then
		cp "$src" "$root$dest"
		chmod u+w,go-w "$root$dest"
		[ "$dest" != /init ] || chmod 0755 "$root$dest"
	else
		ln -sr "$root$src" "$root$dest"
	fi
done
for l in "${LINKS[@]}"; do ln -s "${l#*:}" "$root/usr/sbin/${l%%:*}"; done
# busybox supplies every command the real tools above do not.
while read -r applet; do
	dest=$(usr_path "/$applet")
	[ -e "$root$dest" ] || [ -L "$root$dest" ] || ln -sr "$root/usr/bin/busybox" "$root$dest"
done < <("$root/usr/bin/busybox" --list-full)
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\ndisk:x:6:\n' >"$root/etc/group"
echo "${digest:0:12}" >"$root/etc/labforge/build-id"

say "unpacking $kpkg ${deb_version[$kpkg]}"
dpkg-deb -x "${deb_file[$kpkg]}" "$work/kernel"
kmods=$work/kernel/lib/modules/$kver
# The package ships no modules.dep; modprobe resolves dependencies (and soft dependencies such
# as ext4's crc32c) from the one depmod writes. -C /dev/null: the build machine's modprobe.d
# options are not the image's.
depmod -b "$work/kernel" "$kver"
declare -A seen_mod
: >"$root/etc/labforge/modules"
for m in "${MODULES[@]}"; do
	lines=$(modprobe -C /dev/null -d "$work/kernel" -S "$kver" --show-depends "$m") ||
		die "kernel $kver has no module $m"
	while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		rel=${path#"$kmods/"}
		[ -z "${seen_mod[$rel]:-}" ] || continue
		seen_mod[$rel]=1
		mkdir -p "$root/usr/lib/modules/$kver/$(dirname "$rel")"
		cp "$path" "$root/usr/lib/modules/$kver/$rel"
		echo "$rel" >>"$root/etc/labforge/modules"
	done <<<"$lines"
done
cp "$kmods"/modules.{order,builtin,builtin.modinfo} "$root/usr/lib/modules/$kver/"
# The image's own modules.dep, so busybox modprobe (and the kernel's requests) find the copies.
depmod -b "$root/usr" "$kver"
say "$(wc -l <"$root/etc/labforge/modules") kernel modules"

# GRUB's platform directories, as grub-install expects them under /usr/lib/grub.
mkdir -p "$root/usr/lib/grub"
cp -r "$debs/usr/lib/grub/i386-pc" "$root/usr/lib/grub/"
mkdir -p "$root/usr/lib/grub/x86_64-efi"
find "$debs/usr/lib/grub/x86_64-efi" -maxdepth 1 -type f \
	-exec cp -t "$root/usr/lib/grub/x86_64-efi/" {} +
mkdir -p "$root/usr/share/grub"
cp "$debs/usr/share/grub/unicode.pf2" "$root/usr/share/grub/"
mkdir -p "$root/usr/share/locale" # grub-install warns without it

say "packing initramfs.cpio.gz"
# Reproducible archive: sorted names, fixed owners and times, no gzip name or time stamp.
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
	cpio --null --create --format=newc --reproducible --owner=0:0 --quiet) |
	gzip -n -6 >"$work/initramfs.cpio.gz"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
touch -d "@$SOURCE_DATE_EPOCH" "$work/vmlinuz" "$work/initramfs.cpio.gz"

# --- images.json: name, size, SHA-256 and build inputs of each file -------------------------

entry() { # NAME INPUTS-JSON
	jq -n --arg name "$1" --argjson size "$(stat -c %s "$work/$1")" \
		--arg sha256 "$(sha256sum <"$work/$1" | cut -d' ' -f1)" --argjson inputs "$2" \
		'{name: $name, size: $size, sha256: $sha256, inputs: $inputs}'
}
kernel_inputs=$(jq -n --arg p "$kpkg" --arg v "${deb_version[$kpkg]}" \
	'{packages: [{name: $p, version: $v}]}')
initramfs_inputs=$(printf '%s\n' "${deb_lines[@]}" | jq -R -s \
	--argjson epoch "$SOURCE_DATE_EPOCH" --arg digest "$digest" \
	--arg installer "$(sha256sum <"$installer" | cut -d' ' -f1)" \
	--arg host "$(dpkg-query -W -f '${Package} ${Version}\n' "${HOST_PACKAGES[@]}")" \
	--arg modules "$(cat "$root/etc/labforge/modules")" '
	{source_date_epoch: $epoch, inputs_sha256: $digest,
	 packages: (split("\n") | map(select(length > 0) | split(" ")
		| {name: .[1], version: .[2], sha256: .[3]})),
	 build_machine_packages: ($host | split("\n") | map(select(length > 0) | split(" ")
		| {name: .[0], version: .[1]})),
	 labforge_install_sha256: $installer,
	 kernel_modules: ($modules | split("\n") | map(select(length > 0)))}')
new=$(jq -s . <(entry vmlinuz "$kernel_inputs") <(entry initramfs.cpio.gz "$initramfs_inputs"))
old='{"images": []}'
[ -f "$out/images.json" ] && old=$(cat "$out/images.json")
jq --argjson new "$new" \
	'.images = ([.images[] | select(.name != "vmlinuz" and .name != "initramfs.cpio.gz")]
		+ $new | sort_by(.name))' <<<"$old" >"$work/images.json"

mv "$work/vmlinuz" "$work/initramfs.cpio.gz" "$work/images.json" "$out/"
echo "$digest" >"$out/.netboot.inputs.sha256"
say "built $out/vmlinuz ($(stat -c %s "$out/vmlinuz") bytes) and" \
	"$out/initramfs.cpio.gz ($(stat -c %s "$out/initramfs.cpio.gz") bytes) in $((SECONDS - start))s"
