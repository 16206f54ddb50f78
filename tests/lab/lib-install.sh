# shellcheck shell=bash
# Shared steps of the install tests (tests/lab/install-*.sh): build the netboot pair and a role
# image, serve them with a lab manifest over HTTP, install a guest in standalone mode, boot its
# disks from GRUB and run commands in the installed system through its QEMU guest agent.
# Source after tests/lib.sh and tests/lab/lib-qemu.sh.
#
#   lf_install_images ROLE        # sets LFI_IMAGES; netboot pair + ROLE.tar.zst (cached)
#   lf_install_serve LAB.XML ROLE # sets LFI_URL (as the guest sees it) and LFI_SHA
#   lf_install_start VM NODE ROLE [APPEND...]    # boots the installer (no wait)
#   lf_install_run VM NODE ROLE TIMEOUT [APPEND...]  # 0: "labforge: install complete" seen
#   lf_disk_digest VM COUNT                      # SHA-256 of each disk's bytes
#   lf_install_check_sysctl EXEC                 # the nodes' tuning in effect (pass/fail)
#   lf_install_boot_disk VM NODE TIMEOUT         # GRUB from disk to "NODE login:"
#   lf_install_exec VM CMD                       # CMD in the installed system (guest agent)

LFI_BUILD=${LF_LAB_BUILD:-$LF_TOP/build}
LFI_IMAGES=${LF_IMAGES_DIR:-$LFI_BUILD/images}
_lfi_http_pid=''

# Builds what the installs need, reporting the time (the role image is cached between runs).
lf_install_images() { # ROLE
	local t=$SECONDS
	run env LF_IMAGES_DIR="$LFI_IMAGES" "$LF_TOP/images/build-netboot.sh" \
		--installer "$LFI_BUILD/bin/labforge-install"
	[ "$T_RC" -eq 0 ] || { fail "netboot pair builds" "$(tail -n 20 "$T_ERR")"; return 1; }
	run env LF_IMAGES_DIR="$LFI_IMAGES" LF_BIN_DIR="$LFI_BUILD/bin" \
		"$LF_TOP/images/build-rootfs.sh" "$1"
	[ "$T_RC" -eq 0 ] || { fail "$1 image builds" "$(tail -n 20 "$T_ERR")"; return 1; }
	pass "netboot pair and $1 image ready ($((SECONDS - t))s: $(tail -n 1 "$T_OUT"))"
}

# HTTP on a free loopback port; qemu's user network shows the host's loopback as 10.0.2.2.
lf_install_serve() { # LAB.XML ROLE
	local www=$T_TMP/www port=''
	mkdir -p "$www"
	cp "$1" "$www/lab.xml"
	ln -sf "$(realpath "$LFI_IMAGES/$2.tar.zst")" "$www/$2.tar.zst"
	LFI_SHA=$(sha256sum "$LFI_IMAGES/$2.tar.zst" | cut -d' ' -f1)
	python3 -u -m http.server --bind 127.0.0.1 --directory "$www" 0 >"$T_TMP/http.log" 2>&1 &
	_lfi_http_pid=$!
	trap '[ -z "$_lfi_http_pid" ] || kill "$_lfi_http_pid" 2>/dev/null; _lfq_cleanup' EXIT
	for _ in $(seq 50); do
		port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$T_TMP/http.log" | head -n 1)
		[ -n "$port" ] && break
		sleep 0.2
	done
	[ -n "$port" ] || { fail "HTTP server starts" "$(cat "$T_TMP/http.log")"; return 1; }
	LFI_URL=http://10.0.2.2:$port
}

# Gives VM the disk files of guest FROM (hard links): call between lf_qemu_new and lf_qemu_disk,
# which leaves an existing file of the right size as it is.
lf_install_same_disks() { # VM FROM COUNT
	local n
	for ((n = 0; n < $3; n++)); do ln "$(lf_qemu_disk_file "$2" "$n")" "$T_TMP/$1/disk$n.raw"; done
}

# Direct kernel boot of the installer in standalone mode with the served manifest and image of
# ROLE (labforge.image= and labforge.sha256= in APPEND replace them). The same guest may boot it
# again: only the command line changes.
lf_install_start() { # VM NODE ROLE [APPEND...]
	local vm=$1 node=$2 role=$3 line
	shift 3
	line="console=ttyS0,115200 panic=-1 labforge.manifest=$LFI_URL/lab.xml labforge.node=$node"
	case " $* " in *" labforge.image="*) ;; *) line+=" labforge.image=$LFI_URL/$role.tar.zst" ;; esac
	case " $* " in *" labforge.sha256="*) ;; *) line+=" labforge.sha256=$LFI_SHA" ;; esac
	line+=" labforge.reboot=0${*:+ $*}"
	if [[ ${_lfq_args[$vm]} == *" -kernel "* ]]; then
		printf '%s' "$line" >"$T_TMP/$vm/append"
	else
		lf_qemu_kernel "$vm" "$LFI_IMAGES/vmlinuz" "$LFI_IMAGES/initramfs.cpio.gz" "$line"
	fi
	lf_qemu_start "$vm"
}

# lf_install_start, then waits for the closing line and the power off.
lf_install_run() { # VM NODE ROLE TIMEOUT [APPEND...]
	local vm=$1 node=$2 role=$3 timeout=$4
	shift 4
	lf_install_start "$vm" "$node" "$role" "$@"
	lf_qemu_wait "$vm" '^labforge: install (complete|failed)' "$timeout"
	lf_qemu_wait_exit "$vm" 120
	lf_qemu_console "$vm" | grep -q '^labforge: install complete'
}

# One line per disk: its number and the SHA-256 of its content (the sparse files' holes read as
# zeros, so only the written extents are read).
lf_disk_digest() { # VM COUNT
	local n
	for ((n = 0; n < $2; n++)); do
		printf '%d %s\n' "$n" "$(python3 "$LF_TOP/tests/lab/disk-digest.py" "$(lf_qemu_disk_file "$1" "$n")")"
	done
}

# Boots VM's disks with no kernel given (SeaBIOS -> GRUB on the boot disk), with a guest agent
# socket; 0 once GRUB was on the serial console and NODE's login prompt came.
lf_install_boot_disk() { # VM NODE TIMEOUT
	lf_qemu_agent "$1"
	lf_qemu_start "$1"
	lf_qemu_wait "$1" "^$2 login:" "$3" && lf_qemu_console "$1" | grep -q 'GRUB'
}

lf_install_exec() { # VM CMD
	python3 "$LF_TOP/tests/lab/qga-exec.py" "$T_TMP/$1/qga.sock" 180 "$2" 2>&1
}

# The tuning of storage and kvm nodes (DESIGN §5.3) in effect in an installed system; EXEC runs a
# command there (the tests' gx).
lf_install_check_sysctl() { # EXEC
	local got want="net.core.optmem_max = 262144
net.core.rmem_default = 262144
net.core.wmem_default = 262144
net.core.rmem_max = 8388608
net.core.wmem_max = 8388608
net.ipv4.tcp_rmem = 4096	87380	8388608
net.ipv4.tcp_wmem = 4096	65536	8388608"
	got=$("$1" 'sysctl net.core.optmem_max net.core.rmem_default net.core.wmem_default \
		net.core.rmem_max net.core.wmem_max net.ipv4.tcp_rmem net.ipv4.tcp_wmem')
	if [ "$got" = "$want" ]; then
		pass "tuning sysctls in effect"
	else
		fail "tuning sysctls in effect" "got:" "$got" "want:" "$want"
	fi
}
