#!/usr/bin/env bash
# labforge's entry point on a fresh Debian 12 machine: installs what is missing, then builds.
#   ./build.sh            install dependencies (when missing) and build build/bin/*
#   ./build.sh deps       install build and test dependencies from Debian packages
#   ./build.sh check      deps, then `make check` (every test)
#   ./build.sh images     deps, build, then the images in build/images/: the installer netboot
#                         pair and the storage, kvm and login role images (root; minutes the
#                         first time, cached after)
#   ./build.sh image ROLE deps, build, then one role image (storage, kvm, login, login+storage)
#   ./build.sh demo       deps, build, and run the main job on examples/room-301/
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages needed to build and test (keep sorted; one per line).
DEPS=(
	build-essential
	busybox-static
	clang
	clang-format
	corosync
	cpio
	curl
	dnsmasq-base
	dosfstools
	e2fsprogs
	fdisk
	gdisk
	iproute2
	ipxe
	ipxe-qemu
	jq
	kmod
	libarchive-dev
	libblkid-dev
	libclang-rt-14-dev
	libcmap-dev
	libcorosync-common-dev
	libcpg-dev
	libcurl4-openssl-dev
	libjson-c-dev
	libmicrohttpd-dev
	libquorum-dev
	libsqlite3-dev
	libssl-dev
	libvirt-clients
	libvirt-daemon
	libvirt-daemon-driver-qemu
	libvirt-dev
	libvotequorum-dev
	libxml2-dev
	libxml2-utils
	lvm2
	mdadm
	mmdebstrap
	mount
	pkg-config
	qemu-system-x86
	qemu-utils
	util-linux
	zstd
)

sudo_cmd() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

deps() {
	local missing=() p
	for p in "${DEPS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		echo "build.sh: all ${#DEPS[@]} dependencies are installed"
		return
	fi
	echo "build.sh: installing ${missing[*]}"
	sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

jobs=$(nproc 2>/dev/null || echo 2)

demo() {
	local room=examples/room-301 bin=build/bin/labforge node inv
	echo "== labforge validate $room/lab.xml"
	"$bin" validate "$room/lab.xml"
	# Nodes in the room file's order; each has a bundled inventory of its hardware.
	for node in $(xmllint --xpath '/lab/node/@name' "$room/lab.xml" | sed -E 's/ ?name="([^"]*)"/\1 /g'); do
		inv=$room/inventories/$node.json
		echo
		echo "== labforge plan --manifest $room/lab.xml --node $node --inventory $inv --format text"
		"$bin" plan --manifest "$room/lab.xml" --node "$node" --inventory "$inv" --format text
	done
	# The room installed for real: qemu PCs PXE-booting from the appliance (root).
	echo
	echo "== $room/virtual-room.sh: the room as qemu PCs installing over PXE from the appliance"
	sudo_cmd "$room/virtual-room.sh"
}

case ${1:-build} in
deps) deps ;;
build) deps; make -j"$jobs" all ;;
check) deps; make -j"$jobs" check ;;
demo) deps; make -s -j"$jobs" all; demo ;;
images)
	deps; make -j"$jobs" all; images/build-netboot.sh
	for role in storage kvm login; do images/build-rootfs.sh "$role"; done ;;
image)
	[ $# -eq 2 ] || { echo "usage: $0 image storage|kvm|login[+...]" >&2; exit 2; }
	deps; make -j"$jobs" all; images/build-rootfs.sh "$2" ;;
*) echo "usage: $0 [deps|build|check|demo|images|image ROLE]" >&2; exit 2 ;;
esac
