#!/usr/bin/env bash
# Builds the root file system image of a role, $LF_IMAGES_DIR/ROLE.tar.zst, and its entry in
# images.json. Reproducible (SOURCE_DATE_EPOCH) and cached: unchanged inputs rebuild nothing.
#
#   images/build-rootfs.sh ROLE     ROLE: storage, kvm, login, or a combination (login+storage)
#   LF_BIN_DIR      labforge binaries put into the image (default build/bin, a plain `make all`)
#   LF_IMAGES_DIR   output directory (default build/images)
#   LF_KEEP_ROOTFS  1: keep the unpacked tree $LF_IMAGES_DIR/rootfs-ROLE after packing
#
# Two stages, each cached by a digest of its inputs:
#  1. base: mmdebstrap (variant apt, no recommends, no docs/man/locales) of Debian bookworm from
#     the mirrors the build machine's apt uses, with roles/common/packages, the role's
#     roles/ROLE/packages and the Debian packages of the libraries the labforge binaries link.
#     Kept in $LF_IMAGES_DIR/cache/base-ROLE/ (its inputs listed in base-ROLE.inputs); only a
#     package list, the mirrors, their apt Release dates, mmdebstrap or this script rebuild it
#     (minutes).
#  2. image: a copy of the base plus the labforge binaries (/usr/local/bin) and the files of
#     roles/common/rootfs and roles/ROLE/rootfs; root password locked, serial getty on ttyS0,
#     no SSH host keys (made on first boot); packed with `labforge image pack`.
# Needs root: mmdebstrap's root mode, and file owners the image must keep.
set -euo pipefail
umask 022
self=$(realpath "$0")
top=$(dirname "$(dirname "$self")")
say() { echo "build-rootfs: $*"; }
die() { echo "build-rootfs: $*" >&2; exit 1; }
usage() { echo "usage: $0 storage|kvm|login[+...]" >&2; exit 2; }

[ $# -eq 1 ] || usage
# Canonical role name: known roles, each once, in lf_roles_format's order (kvm, login, storage).
declare -A want=()
IFS=+ read -r -a parts <<<"$1"
[ ${#parts[@]} -gt 0 ] || usage
for r in "${parts[@]}"; do
	case $r in storage | kvm | login) ;; *) echo "build-rootfs: unknown role '$r'" >&2; usage ;; esac
	[ -z "${want[$r]:-}" ] || { echo "build-rootfs: role '$r' named twice" >&2; usage; }
	want[$r]=1
done
roles=()
for r in kvm login storage; do [ -z "${want[$r]:-}" ] || roles+=("$r"); done
role=$(IFS=+; echo "${roles[*]}")
overlays=(roles/common/rootfs)
for r in "${roles[@]}"; do overlays+=("roles/$r/rootfs"); done

[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap's root mode; the image keeps file owners)"
bindir=${LF_BIN_DIR:-$top/build/bin}
labforge=$bindir/labforge
[ -x "$labforge" ] && [ -x "$bindir/labforge-install" ] ||
	die "$bindir: labforge binaries not built; run 'make all' (or set LF_BIN_DIR)"
bindir=$(realpath "$bindir")
labforge=$bindir/labforge
out=${LF_IMAGES_DIR:-$top/build/images}
mkdir -p "$out/cache"
out=$(realpath "$out")
cd "$top"

exec 9>"$out/.rootfs-$role.lock"
flock 9

# The last commit of what defines a base (this script, the package lists): a commit elsewhere,
# even in roles/, must not invalidate the cache.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct -- images/build-rootfs.sh \
	'roles/*/packages' 2>/dev/null || true)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
export SOURCE_DATE_EPOCH

# --- Inputs --------------------------------------------------------------------------------

# The package lists without comments, plus the packages of the binaries' shared libraries.
lists=(roles/common/packages)
for r in "${roles[@]}"; do lists+=("roles/$r/packages"); done
bins=()
for b in "$bindir"/labforge "$bindir"/labforge-install "$bindir"/labforged; do
	[ -x "$b" ] && bins+=("$b")
done
# One dpkg-query over every /usr-merged name of each library (dpkg knows a file under one of
# them); a library no package owns is an error: the image would lack it.
lib_packages() {
	local -A canon=() owned=()
	local lib names=() line pkgs
	while read -r lib; do
		canon[$(realpath "$lib")]=$lib
		names+=("$lib" "${lib#/usr}" "/usr$lib" "$(realpath "$lib")")
	done < <(ldd "${bins[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
		$1 ~ /^\// && $2 ~ /^\(/ { print $1 }' | sort -u)
	while IFS= read -r line; do
		[[ $line =~ ^([^\ ]+(,\ [^\ ]+)*):\ (/.*)$ ]] || continue
		pkgs=${BASH_REMATCH[1]}
		owned[$(realpath -m "${BASH_REMATCH[3]}")]=1
		tr -d ' ' <<<"$pkgs" | tr ',' '\n' | cut -d: -f1
	done < <(dpkg-query -S "${names[@]}" 2>/dev/null || true)
	for lib in "${!canon[@]}"; do
		[ -n "${owned[$lib]:-}" ] || die "${canon[$lib]}: no Debian package owns it"
	done
}
libs=$(lib_packages)
[ -n "$libs" ] || die "cannot tell which Debian packages the labforge binaries' libraries are in"
mapfile -t packages < <({ sed -e 's/#.*//' -e 's/[[:space:]]//g' "${lists[@]}"; echo "$libs"; } |
	grep -v '^$' | LC_ALL=C sort -u)

# The build machine's apt sources for bookworm, as one-line sources for mmdebstrap.
mapfile -t mirrors < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
	'Identifier: Packages' 2>/dev/null | awk '$2 ~ /^bookworm(-|$)/' | LC_ALL=C sort -u |
	awk '{ k = $1 " " $2; if (!(k in c)) { o[++n] = k; c[k] = $3 } else c[k] = c[k] " " $3 }
	     END { for (i = 1; i <= n; i++) print "deb " o[i] " " c[o[i]] }')
[ ${#mirrors[@]} -gt 0 ] || die "apt has no Debian bookworm source (see /etc/apt/sources.list*)"
# What apt last saw of each mirror (the Date: of its Release file): a newer one may bring newer
# packages, so it is part of the base's inputs.
release_dates() {
	local f
	for f in /var/lib/apt/lists/*_InRelease /var/lib/apt/lists/*_Release; do
		[ -f "$f" ] || continue
		case $f in *bookworm*) echo "${f##*/} $(sed -n 's/^Date: //p' "$f" | head -n 1)" ;; esac
	done
}

# dpkg leaves these out of the image: documentation other than copyright notices, manuals,
# translations, and kernel modules a lab server does not use (sound, cameras and TV, Wi-Fi,
# Bluetooth, the large GPU drivers (the console stays on the firmware's frame buffer),
# InfiniBand, sensors, staging): 170 of the kernel's 400 MiB. The image is copied to every PC.
mods=/lib/modules/*/kernel
DPKG_OPTS=(
	'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright'
	'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*'
	'path-exclude=/usr/share/locale/*' 'path-include=/usr/share/locale/locale.alias'
	'path-exclude=/usr/share/lintian/*'
	"path-exclude=$mods/sound/*" "path-exclude=$mods/drivers/media/*"
	"path-exclude=$mods/drivers/net/wireless/*" "path-exclude=$mods/net/wireless/*"
	"path-exclude=$mods/net/mac80211/*" "path-exclude=$mods/net/bluetooth/*"
	"path-exclude=$mods/drivers/bluetooth/*" "path-exclude=$mods/drivers/gpu/drm/amd/*"
	"path-exclude=$mods/drivers/gpu/drm/radeon/*" "path-exclude=$mods/drivers/gpu/drm/nouveau/*"
	"path-exclude=$mods/drivers/gpu/drm/i915/*" "path-exclude=$mods/drivers/infiniband/*"
	"path-exclude=$mods/drivers/iio/*" "path-exclude=$mods/drivers/staging/*"
)

base_inputs=$(
	echo "script $(sha256sum <"$self" | cut -d' ' -f1)"
	echo "source_date_epoch $SOURCE_DATE_EPOCH"
	echo "mmdebstrap $(mmdebstrap --version)"
	printf 'package %s\n' "${packages[@]}"
	printf 'mirror %s\n' "${mirrors[@]}"
	printf 'dpkg %s\n' "${DPKG_OPTS[@]}"
	release_dates
)
base_digest=$(sha256sum <<<"$base_inputs" | cut -d' ' -f1)
overlay_inputs() {
	local d
	for d in "${overlays[@]}"; do
		[ -d "$d" ] || continue
		(cd "$d" && find . -mindepth 1 -printf '%y %m %p %l\n' | LC_ALL=C sort) |
			while read -r type mode path link; do
				if [ "$type" = f ]; then
					echo "overlay $d ${path#./} $mode $(sha256sum <"$d/$path" | cut -d' ' -f1)"
				else
					echo "overlay $d ${path#./} $type $mode $link"
				fi
			done
	done
}
image_inputs=$(
	echo "base $base_digest"
	for b in "${bins[@]}"; do echo "binary ${b##*/} $(sha256sum <"$b" | cut -d' ' -f1)"; done
	echo "labforge $(sha256sum <"$labforge" | cut -d' ' -f1)"
	overlay_inputs
)
digest=$(sha256sum <<<"$image_inputs" | cut -d' ' -f1)
image=$out/$role.tar.zst
if [ -f "$image" ] && [ "$(cat "$out/.$role.inputs.sha256" 2>/dev/null)" = "$digest" ]; then
	say "$role image up to date (inputs ${digest:0:12})"
	exit 0
fi

# --- Stage 1: the Debian base ----------------------------------------------------------------

start=$SECONDS
base=$out/cache/base-$role
if [ "$(cat "$base.inputs.sha256" 2>/dev/null)" = "$base_digest" ] && [ -d "$base" ]; then
	say "$role base up to date (inputs ${base_digest:0:12})"
else
	say "$role base: mmdebstrap bookworm, ${#packages[@]} packages, from ${mirrors[*]}"
	# What an interrupted mmdebstrap left: never delete through a mount it left behind.
	! grep -q " $base.tmp/" /proc/mounts ||
		die "$base.tmp: file systems are still mounted there; unmount them first"
	rm -rf --one-file-system "$base" "$base.inputs.sha256" "$base.tmp"
	dpkg_args=()
	for o in "${DPKG_OPTS[@]}"; do dpkg_args+=(--dpkgopt="$o"); done
	mmdebstrap --variant=apt --mode=root --format=directory \
		--aptopt='APT::Install-Recommends "false"' --aptopt='Acquire::Retries "3"' \
		"${dpkg_args[@]}" --include="$(IFS=,; echo "${packages[*]}")" \
		bookworm "$base.tmp" "${mirrors[@]}" ||
		die "mmdebstrap failed (see above); is the mirror reachable?"
	mv "$base.tmp" "$base"
	echo "$base_inputs" >"$base.inputs"
	echo "$base_digest" >"$base.inputs.sha256"
	say "$role base built in $((SECONDS - start))s ($(du -sm "$base" | cut -f1) MiB)"
fi

# --- Stage 2: labforge on top, then pack -----------------------------------------------------

stage=$SECONDS
root=$out/rootfs-$role
rm -rf "$root"
trap 'rm -rf "$root" "$image.tmp"' EXIT
cp -a "$base" "$root"
install -d -m 0755 "$root/usr/local/bin"
install -m 0755 "${bins[@]}" "$root/usr/local/bin/"
for d in "${overlays[@]}"; do
	[ ! -d "$d" ] || cp -a --no-preserve=ownership "$d/." "$root/"
done
# Each node makes its own SSH host keys and machine id on first boot.
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
sed -i 's/^root:[^:]*:/root:!*:/' "$root/etc/shadow"
systemctl --root="$root" --quiet enable serial-getty@ttyS0.service labforge-ssh-hostkeys.service \
	labforged.service
# labforged starts corosync with the configuration it writes; Debian's unit would start it first
# with the sample one (another cluster).
systemctl --root="$root" --quiet disable corosync.service 2>/dev/null || true
mkdir -p "$root/etc/labforge"
echo "${digest:0:12}" >"$root/etc/labforge/image-id"

say "$role image: packing ($(du -sm "$root" | cut -f1) MiB)"
"$labforge" image pack --format json "$root" "$image.tmp" >"$out/.$role.pack.json" ||
	die "labforge image pack failed"
installed=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package} ${Version}\n')

# --- images.json ----------------------------------------------------------------------------

entry=$(jq --arg name "$role.tar.zst" --argjson epoch "$SOURCE_DATE_EPOCH" \
	--arg digest "$digest" --arg base "$base_digest" --arg mmdebstrap "$(mmdebstrap --version)" \
	--arg packages "$(printf '%s\n' "${packages[@]}")" --arg mirrors "$(printf '%s\n' "${mirrors[@]}")" \
	--arg installed "$installed" --arg bins "$(for b in "${bins[@]}"; do
		echo "${b##*/} $(sha256sum <"$b" | cut -d' ' -f1)"; done)" '
	def lines: split("\n") | map(select(length > 0));
	{name: $name, size: .size, sha256: .sha256,
	 inputs: {source_date_epoch: $epoch, inputs_sha256: $digest, base_inputs_sha256: $base,
		mmdebstrap: $mmdebstrap, mirrors: ($mirrors | lines), packages: ($packages | lines),
		labforge_binaries: ($bins | lines | map(split(" ") | {name: .[0], sha256: .[1]})),
		installed_packages: ($installed | lines | map(split(" ")
			| {name: .[0], version: .[1]}))}}' "$out/.$role.pack.json")
exec 8>"$out/.images.json.lock"
flock 8
old='{"images": []}'
[ -f "$out/images.json" ] && old=$(cat "$out/images.json")
jq --argjson new "$entry" '.images = ([.images[] | select(.name != $new.name)] + [$new]
	| sort_by(.name))' <<<"$old" >"$out/images.json.tmp"
mv "$image.tmp" "$image"
mv "$out/images.json.tmp" "$out/images.json"
echo "$image_inputs" >"$out/.$role.inputs"
echo "$digest" >"$out/.$role.inputs.sha256"
rm -f "$out/.$role.pack.json"
if [ "${LF_KEEP_ROOTFS:-0}" = 1 ]; then trap - EXIT; else rm -rf "$root"; fi
say "built $image: $(stat -c %s "$image") bytes, sha256 $(jq -r .sha256 <<<"$entry")," \
	"in $((SECONDS - start))s (image stage $((SECONDS - stage))s)"
