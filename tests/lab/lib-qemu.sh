# shellcheck shell=bash
# Shell helpers for the qemu lab tests (tests/lab/*.sh): boot a guest under TCG with virtual
# SSDs, HDDs and NICs, watch its serial console for marker lines, and always stop it again.
# Source after tests/lib.sh:
#
#   lf_qemu_new vm                      # a guest named vm; its files live in $T_TMP/vm/
#   lf_qemu_disk vm ssd 1G lf-ssd0      # sparse raw file on virtio-scsi, rotation_rate=1
#   lf_qemu_disk vm hdd 2G lf-hdd0      # rotation_rate=7200
#   lf_qemu_disk vm virtio 1G lf-boot   # virtio-blk
#   lf_qemu_nic vm virtio-net-pci 52:54:00:00:00:01    # qemu user networking (DHCP, no host net)
#   lf_qemu_nic_tap vm e1000 52:54:00:00:00:02 tap0    # on a tap device, PXE first in boot order
#   lf_qemu_fw_cfg vm opt/labforge/script FILE          # file readable inside the guest
#   lf_qemu_kernel vm VMLINUZ INITRD "APPEND LINE"      # direct kernel boot
#   lf_qemu_agent vm                    # guest agent socket (tests/lab/qga-exec.py)
#   lf_qemu_start vm
#   lf_qemu_wait vm 'labforge: test (complete|failed)' 180   # 0 seen, 1 guest ended, 2 timeout
#   lf_qemu_wait_exit vm 30; lf_qemu_section vm NAME; lf_qemu_stop vm
#
# Guests use TCG (never /dev/kvm, so the tests run the same everywhere), 2 CPUs, 1 GiB, no
# reboot (a reboot or kernel panic ends qemu), and print their console to $T_TMP/<vm>/console.log.
# Guest scripts frame their output as "=== BEGIN <name> ===" ... "=== END <name> ===".

LF_QEMU=${LF_QEMU:-qemu-system-x86_64}
declare -A _lfq_args _lfq_pid _lfq_disks _lfq_nics
_lfq_vms=()

# Stops every guest still running, then does tests/lib.sh's cleanup (this trap replaces its).
_lfq_cleanup() {
	local vm
	for vm in "${_lfq_vms[@]}"; do lf_qemu_stop "$vm"; done
	rm -rf "$T_TMP"
}
trap _lfq_cleanup EXIT
trap 'exit 130' INT TERM

# Succeeds when qemu is installed and can start a TCG machine here.
lf_qemu_available() {
	command -v "$LF_QEMU" >/dev/null 2>&1 || return 1
	timeout 20 "$LF_QEMU" -accel tcg -machine q35 -nodefaults -display none -S \
		-monitor none -serial none -no-reboot </dev/null >/dev/null 2>&1 &
	local pid=$!
	sleep 1
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 0
	fi
	wait "$pid" 2>/dev/null
	return 1
}

lf_qemu_new() { # VM
	local vm=$1
	mkdir -p "$T_TMP/$vm"
	_lfq_vms+=("$vm")
	_lfq_disks[$vm]=0 _lfq_nics[$vm]=0
	_lfq_args[$vm]="-accel tcg -machine q35 -cpu max -smp 2 -m 1024 -nodefaults -nographic"
	_lfq_args[$vm]+=" -no-reboot -monitor none -serial file:$T_TMP/$vm/console.log"
	_lfq_args[$vm]+=" -device virtio-scsi-pci,id=scsi0"
}

# KIND: ssd or hdd (virtio-scsi, rotation_rate 1 or 7200, at SCSI target N for the Nth disk
# from 0), or virtio (virtio-blk). SIZE as truncate(1) takes it; SERIAL shows in the guest
# (/sys/block/sdX/device/vpd_pg80, /sys/block/vdX/serial).
lf_qemu_disk() { # VM KIND SIZE SERIAL
	local vm=$1 kind=$2 size=$3 serial=$4 n=${_lfq_disks[$1]} dev
	case $kind in
	ssd) dev="scsi-hd,bus=scsi0.0,scsi-id=$n,lun=0,rotation_rate=1" ;;
	hdd) dev="scsi-hd,bus=scsi0.0,scsi-id=$n,lun=0,rotation_rate=7200" ;;
	virtio) dev=virtio-blk-pci ;;
	*) echo "lf_qemu_disk: unknown disk kind $kind" >&2; return 2 ;;
	esac
	local f=$T_TMP/$vm/disk$n.raw
	truncate -s "$size" "$f"
	_lfq_args[$vm]+=" -drive if=none,id=d$n,file=$f,format=raw,cache=unsafe"
	_lfq_args[$vm]+=" -device $dev,drive=d$n,serial=$serial"
	_lfq_disks[$vm]=$((n + 1))
}

lf_qemu_disk_file() { # VM N: the file behind the Nth disk
	echo "$T_TMP/$1/disk$2.raw"
}

# MODEL: a qemu NIC (virtio-net-pci, e1000, e1000e, rtl8139, ...) on qemu's user network,
# which answers DHCP (10.0.2.15) and needs nothing from the host.
lf_qemu_nic() { # VM MODEL MAC
	local vm=$1 n=${_lfq_nics[$1]}
	_lfq_args[$vm]+=" -netdev user,id=n$n -device $2,netdev=n$n,mac=$3"
	_lfq_nics[$vm]=$((n + 1))
}

# A NIC on an existing tap device (see tests/lib-netns.sh), in the boot order before the disks:
# with no kernel given, the guest PXE-boots through the NIC's iPXE ROM (Debian's ipxe-qemu), and
# when the script it gets exits, SeaBIOS boots the first disk. With `noboot` the NIC is left out
# of the boot order (and has no ROM).
lf_qemu_nic_tap() { # VM MODEL MAC TAP [noboot]
	local vm=$1 n=${_lfq_nics[$1]}
	_lfq_args[$vm]+=" -netdev tap,id=n$n,ifname=$4,script=no,downscript=no"
	if [ "${5:-}" = noboot ]; then
		_lfq_args[$vm]+=" -device $2,netdev=n$n,mac=$3,romfile="
	else
		_lfq_args[$vm]+=" -device $2,netdev=n$n,mac=$3,bootindex=$((n + 1))"
	fi
	_lfq_nics[$vm]=$((n + 1))
}

lf_qemu_fw_cfg() { # VM NAME FILE
	_lfq_args[$1]+=" -fw_cfg name=$2,file=$3"
}

# A virtio-serial port for the QEMU guest agent of an installed system (roles/common/packages has
# qemu-guest-agent), on the unix socket $T_TMP/VM/qga.sock; tests/lab/qga-exec.py talks to it.
lf_qemu_agent() { # VM
	_lfq_args[$1]+=" -chardev socket,id=qga,path=$T_TMP/$1/qga.sock,server=on,wait=off"
	_lfq_args[$1]+=" -device virtio-serial-pci -device virtserialport,chardev=qga"
	_lfq_args[$1]+=",name=org.qemu.guest_agent.0"
}

lf_qemu_kernel() { # VM VMLINUZ INITRD APPEND
	local vm=$1
	_lfq_args[$vm]+=" -kernel $2 -initrd $3"
	# The append line may hold spaces: kept apart from the word-split arguments.
	printf '%s' "$4" >"$T_TMP/$vm/append"
}

lf_qemu_start() { # VM
	local vm=$1 append=()
	[ -f "$T_TMP/$vm/append" ] && append=(-append "$(cat "$T_TMP/$vm/append")")
	: >"$T_TMP/$vm/console.log"
	# shellcheck disable=SC2086 # the argument string is built from space-free pieces
	"$LF_QEMU" ${_lfq_args[$vm]} "${append[@]}" </dev/null >"$T_TMP/$vm/qemu.log" 2>&1 &
	_lfq_pid[$vm]=$!
	_lfq_start_time=$SECONDS
}

lf_qemu_running() { # VM
	[ -n "${_lfq_pid[$1]:-}" ] && kill -0 "${_lfq_pid[$1]}" 2>/dev/null
}

# The console log without the serial line's carriage returns.
lf_qemu_console() { # VM
	tr -d '\r' <"$T_TMP/$1/console.log"
}

# Waits for a console line matching the extended regular expression: 0 when seen, 1 when the
# guest ended without it, 2 after TIMEOUT seconds.
lf_qemu_wait() { # VM REGEX TIMEOUT
	local vm=$1 re=$2 end=$((SECONDS + $3))
	while :; do
		lf_qemu_console "$vm" | grep -Eq -- "$re" && return 0
		if ! lf_qemu_running "$vm"; then
			lf_qemu_console "$vm" | grep -Eq -- "$re" && return 0
			return 1
		fi
		[ $SECONDS -lt $end ] || return 2
		sleep 0.5
	done
}

# Waits for the guest to power off; 0 when it did within TIMEOUT seconds, else stops it and 1.
lf_qemu_wait_exit() { # VM TIMEOUT
	local vm=$1 end=$((SECONDS + $2))
	while lf_qemu_running "$vm"; do
		if [ $SECONDS -ge $end ]; then
			lf_qemu_stop "$vm"
			return 1
		fi
		sleep 0.5
	done
	wait "${_lfq_pid[$vm]}" 2>/dev/null
	_lfq_pid[$vm]=
	return 0
}

lf_qemu_stop() { # VM
	local vm=$1 pid=${_lfq_pid[$1]:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	_lfq_pid[$vm]=
}

# Prints the lines a guest script framed as "=== BEGIN NAME ===" ... "=== END NAME ===".
lf_qemu_section() { # VM NAME
	lf_qemu_console "$1" | awk -v b="=== BEGIN $2 ===" -v e="=== END $2 ===" '
		$0 == e { on = 0 } on { print } $0 == b { on = 1 }'
}

# The last LINES console lines, for a failure message.
lf_qemu_tail() { # VM [LINES]
	lf_qemu_console "$1" | tail -n "${2:-30}"
}
