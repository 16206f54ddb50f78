#!/usr/bin/env bash
# Live migration for real (issue 6, item 9). Two libvirt hosts on this machine, each its own
# network, mount and UTS namespace with its own libvirtd (config, runtime and state directories,
# host UUID and host name), joined by a veth pair; a TCG guest (the netboot kernel and a busybox
# initramfs that prints a heartbeat on its serial console) is migrated between them by labforge's
# driver (tests/unit/test-virt-live runs each step). Then a migration is killed halfway with
# SIGKILL and reconciliation must leave the VM active on exactly one host. Needs root; removes
# everything it creates.
source "$(dirname "$0")/../lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	skip virt-migrate "needs root for network and mount namespaces"
	finish
	exit
fi

LIVE=$LF_BUILD/tests/test-virt-live
VM=hb1
W=$T_TMP/virt
NS=(lfv$$a lfv$$b)
NAMES=(kvm1 kvm2)
ADDR=(10.231.7.1 10.231.7.2)
UUIDS=(6c0e4a52-7a1f-4c3e-9d2b-00000000000a 6c0e4a52-7a1f-4c3e-9d2b-00000000000b)
HOLDER=()
LIBVIRTD=()
CREATED_DIRS=()
SLOW_PID=

say() { echo "virt-migrate: $*"; }
# verdict NAME DETAIL CMD...: passes when CMD succeeds, else fails showing DETAIL.
verdict() {
	local name=$1 detail=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "$detail"; fi
}
die() { fail "$1" "${@:2}"; finish; exit 1; }

host_letter() { if [ "$1" -eq 0 ]; then echo a; else echo b; fi; }
index_of() { if [ "$1" = a ]; then echo 0; else echo 1; fi; }
uri() { echo "qemu+unix:///system?socket=$W/${1}/run/libvirt-sock"; }
vsh() { local h=$1; shift; virsh -q -c "$(uri "$h")" "$@"; }

teardown() {
	local h pidfile
	[ -n "$SLOW_PID" ] && kill -9 "$SLOW_PID" 2>/dev/null
	for h in a b; do
		[ -S "$W/$h/run/libvirt-sock" ] || continue
		vsh "$h" destroy "$VM" >/dev/null 2>&1
	done
	# Guests libvirt could not stop, by the pid files of these hosts only.
	for pidfile in "$W"/[ab]/run/qemu/*.pid; do
		[ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null
	done
	for h in "${LIBVIRTD[@]}" "${HOLDER[@]}"; do kill "$h" 2>/dev/null; done
	for h in "${LIBVIRTD[@]}" "${HOLDER[@]}"; do
		for _ in $(seq 100); do kill -0 "$h" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$h" 2>/dev/null
	done
	# Whatever still runs in these hosts' network namespaces is this test's (guests included).
	for h in "${NS[@]}"; do
		ip netns pids "$h" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$h" 2>/dev/null
	done
	for h in "${CREATED_DIRS[@]}"; do rmdir "$h" 2>/dev/null; done
	# LF_TEST_KEEP_TMP=1 keeps logs and consoles for a look afterwards (as the unit tests do).
	if [ -n "${LF_TEST_KEEP_TMP:-}" ]; then echo "virt-migrate: kept $W"; else rm -rf "$T_TMP"; fi
}
trap teardown EXIT
trap 'exit 143' TERM INT HUP # so that a timeout or ^C still tears down

for tool in libvirtd virsh qemu-system-x86_64 ip unshare nsenter cpio gzip; do
	command -v "$tool" >/dev/null || die "prerequisites" "$tool is missing; run ./build.sh deps"
done
[ -x "$LIVE" ] || die "prerequisites" "$LIVE is missing; build with make tests"

# --- The guest: the netboot kernel and busybox (built and cached by images/build-netboot.sh) ---
images=${LF_IMAGES_DIR:-$LF_TOP/build/images}
if [ ! -f "$images/vmlinuz" ] || [ ! -f "$images/initramfs.cpio.gz" ]; then
	say "building the netboot pair into $images (cached afterwards)"
	LF_IMAGES_DIR=$images "$LF_TOP/images/build-netboot.sh" \
		--installer "$LF_BUILD/bin/labforge-install" >"$T_TMP/netboot.log" 2>&1 ||
		die "netboot kernel" "images/build-netboot.sh failed: $(tail -5 "$T_TMP/netboot.log")"
fi
store=$W/store # stands in for the NFS store: one directory both hosts see at the same path
mkdir -p "$store/$VM" "$W/initramfs/bin"
cp "$images/vmlinuz" "$store/$VM/vmlinuz"
gzip -dc "$images/initramfs.cpio.gz" |
	cpio -i --quiet --to-stdout usr/bin/busybox >"$W/initramfs/bin/busybox"
[ -s "$W/initramfs/bin/busybox" ] ||
	die "guest initramfs" "no usr/bin/busybox in $images/initramfs.cpio.gz"
chmod 755 "$W/initramfs/bin/busybox"
cat >"$W/initramfs/init" <<'EOF'
#!/bin/busybox sh
# A counter on the serial console, once a second: it continues across a live migration.
/bin/busybox mount -t proc proc /proc
i=0
while :; do
	echo "lf-heartbeat $i"
	i=$((i + 1))
	/bin/busybox sleep 1
done
EOF
chmod 755 "$W/initramfs/init"
mkdir -p "$W/initramfs/proc"
(cd "$W/initramfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$store/$VM/initrd.gz"

# --- Two hosts --------------------------------------------------------------------------------
# libvirtd's directories are compiled in; each host bind-mounts private ones over them. Mount
# points missing on this machine are created (and removed again on exit).
for d in /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
	if [ ! -d "$d" ]; then mkdir -p "$d" && CREATED_DIRS+=("$d"); fi
done

for ns in "${NS[@]}"; do ip netns add "$ns" || die "namespaces" "ip netns add $ns failed"; done
ip link add "${NS[0]}" netns "${NS[0]}" type veth peer name "${NS[1]}" netns "${NS[1]}" ||
	die "namespaces" "cannot create the veth pair"
for i in 0 1; do
	ip -n "${NS[$i]}" addr add "${ADDR[$i]}/24" dev "${NS[$i]}"
	ip -n "${NS[$i]}" link set lo up
	ip -n "${NS[$i]}" link set "${NS[$i]}" up
	# The VM bridge the driver's domains join (LF_VIRT_BRIDGE).
	ip -n "${NS[$i]}" link add vmbr0 type bridge
	ip -n "${NS[$i]}" link set vmbr0 up
done

# Each host is a holder process in its own network, mount and UTS namespaces; libvirtd runs in
# them through nsenter, so it can be killed and started again on the same host.
start_host() { # INDEX
	local i=$1 h d
	h=$(host_letter "$i")
	d=$W/$h
	mkdir -p "$d"/{etc,run,lib,log/qemu,cache}
	cat >"$d/etc/libvirtd.conf" <<EOF
listen_tls = 0
listen_tcp = 1
listen_addr = "${ADDR[$i]}"
auth_tcp = "none"
auth_unix_rw = "none"
host_uuid = "${UUIDS[$i]}"
log_outputs = "2:file:/var/log/libvirt/libvirtd.log"
EOF
	# Guests run as root without cgroups, a private /dev or a security driver: none of them
	# is set up inside these namespaces, and the test is about migration, not confinement.
	cat >"$d/etc/qemu.conf" <<EOF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOF
	# libvirt's qemu driver looks its default user up before it reads qemu.conf; the user is
	# made by libvirt-daemon-system, which would also start a system-wide daemon. A private
	# copy of passwd and group with that user stays inside this host's mount namespace.
	cp /etc/passwd "$d/passwd" && cp /etc/group "$d/group"
	echo "libvirt-qemu:x:64055:64055::/var/lib/libvirt:/bin/false" >>"$d/passwd"
	echo "libvirt-qemu:x:64055:" >>"$d/group"
	{ cat /etc/hosts; echo "${ADDR[0]} ${NAMES[0]}"; echo "${ADDR[1]} ${NAMES[1]}"; } >"$d/hosts"
	ip netns exec "${NS[$i]}" unshare --mount --uts --propagation private -- bash -c "
		set -e
		hostname ${NAMES[$i]}
		mount --bind $d/etc /etc/libvirt
		mount --bind $d/run /run/libvirt
		mount --bind $d/lib /var/lib/libvirt
		mount --bind $d/log /var/log/libvirt
		mount --bind $d/cache /var/cache/libvirt
		mount --bind $d/passwd /etc/passwd
		mount --bind $d/group /etc/group
		mount --bind $d/hosts /etc/hosts
		mount -t tmpfs lf-srv /srv
		mkdir -p /srv/labforge/vms
		mount --bind $store /srv/labforge/vms
		touch $d/ready
		exec sleep infinity
	" >"$d/holder.out" 2>&1 &
	HOLDER[i]=$!
	disown $!
	for _ in $(seq 100); do [ -f "$d/ready" ] && break; sleep 0.1; done
	[ -f "$d/ready" ] || die "host ${NAMES[$i]}" "$(cat "$d/holder.out")"
	start_libvirtd "$i"
}

start_libvirtd() { # INDEX
	local i=$1 h
	h=$(host_letter "$i")
	nsenter -t "${HOLDER[$i]}" -n -m -u -- \
		libvirtd --listen -p /run/libvirt/libvirtd.pid -f /etc/libvirt/libvirtd.conf \
		>>"$W/$h/libvirtd.out" 2>&1 &
	LIBVIRTD[i]=$!
	disown $! # its end is ours to check, not for bash to report
	for _ in $(seq 150); do vsh "$h" version >/dev/null 2>&1 && return 0; sleep 0.2; done
	die "libvirtd on ${NAMES[$i]}" "$(cat "$W/$h/libvirtd.out"; tail -5 "$W/$h/log/libvirtd.log")"
}

t0=$SECONDS
start_host 0
start_host 1
say "two libvirt hosts up in $((SECONDS - t0)) s"

names="$(vsh a hostname) $(vsh b hostname)"
verdict "hosts have their own names" "$names" test "$names" = "kvm1 kvm2"
uuids=$(for h in a b; do vsh "$h" capabilities | sed -n 's:.*<uuid>\(.*\)</uuid>.*:\1:p'; done)
verdict "hosts have distinct UUIDs" "$uuids" test "$uuids" = "$(printf '%s\n' "${UUIDS[@]}")"
peer=$(ip netns exec "${NS[0]}" virsh -q -c "qemu+tcp://${ADDR[1]}/system" hostname 2>&1)
verdict "kvm1 reaches kvm2's libvirtd over the veth" "$peer" test "$peer" = kvm2

export LF_VIRT_A LF_VIRT_B LF_VIRT_A_PEER LF_VIRT_B_PEER LF_VIRT_A_ADDR LF_VIRT_B_ADDR \
	LF_VIRT_KERNEL LF_VIRT_INITRD LF_VIRT_JOURNAL LF_VIRT_VM
LF_VIRT_A=$(uri a) LF_VIRT_B=$(uri b)
LF_VIRT_A_PEER=qemu+tcp://${ADDR[0]}/system LF_VIRT_B_PEER=qemu+tcp://${ADDR[1]}/system
LF_VIRT_A_ADDR=${ADDR[0]} LF_VIRT_B_ADDR=${ADDR[1]}
LF_VIRT_KERNEL=/srv/labforge/vms/$VM/vmlinuz LF_VIRT_INITRD=/srv/labforge/vms/$VM/initrd.gz
LF_VIRT_JOURNAL=$W/journal LF_VIRT_VM=$VM

console() { echo "$W/$1/log/qemu/$VM-console.log"; }
# Heartbeat numbers on a host's console, in order (complete lines only).
beats() {
	tr -d '\r' <"$(console "$1")" 2>/dev/null | sed -n 's/^lf-heartbeat \([0-9][0-9]*\)$/\1/p'
}
# Waits until host $1's console shows a heartbeat above $2; prints the last one seen.
beat_above() {
	local h=$1 min=${2:--1} last
	for _ in $(seq 600); do
		last=$(beats "$h" | tail -1)
		[ -n "$last" ] && [ "$last" -gt "$min" ] && { echo "$last"; return 0; }
		sleep 0.2
	done
	echo "${last:-none}"
	return 1
}
# The same, quietly, for verdict.
beats_on() { beat_above "$@" >/dev/null; }
# Hosts where the VM is active, as virsh sees them.
active_on() {
	local h out=
	for h in a b; do
		vsh "$h" domstate "$VM" 2>/dev/null | grep -qE '^(running|paused)' && out="$out$h"
	done
	echo "${out:-none}"
}
persistent() { vsh "$1" dominfo "$VM" 2>/dev/null | grep -q '^Persistent: *yes'; }
defined_on() {
	local h out=
	for h in a b; do vsh "$h" dominfo "$VM" >/dev/null 2>&1 && out="$out$h"; done
	echo "${out:-none}"
}

# --- Boot on kvm1 --------------------------------------------------------------------------
expect "define and start the guest on kvm1" 0 -- "$LIVE" live_define_start
t0=$SECONDS
beat_above a 1 >/dev/null ||
	die "guest boots on kvm1" "console: $(tail -5 "$(console a)" 2>&1)" \
		"qemu log: $(tail -5 "$W/a/log/qemu/$VM.log" 2>&1)"
pass "guest boots (TCG) and beats on kvm1's console ($((SECONDS - t0)) s)"
expect "bulk stats: cpu.time, balloon, cores used" 0 -- "$LIVE" live_stats
grep 'cores used' "$T_OUT"

# --- Live migration kvm1 -> kvm2 -------------------------------------------------------------
t0=$SECONDS
expect "live migration kvm1 -> kvm2 through the driver" 0 -- "$LIVE" live_migrate
grep -E '^migrated' "$T_OUT"
say "migration took $((SECONDS - t0)) s"
verdict "active on kvm2 only" "active on: $(active_on)" test "$(active_on)" = b
verdict "defined on kvm2 only" "defined on: $(defined_on)" test "$(defined_on)" = b
verdict "persistent on kvm2" "$(vsh b dominfo "$VM")" persistent b
last_a=$(beats a | tail -1)
if first_b=$(beat_above b -1) && first_b=$(beats b | head -1) &&
	now_b=$(beat_above b $((first_b + 1))); then
	if [ "$first_b" -gt "$last_a" ] && [ "$first_b" -le $((last_a + 5)) ]; then
		pass "heartbeat continues on kvm2 ($last_a on kvm1, then $first_b..$now_b on kvm2)"
	else
		fail "heartbeat continues on kvm2" "last on kvm1 $last_a, first on kvm2 $first_b"
	fi
else
	fail "heartbeat continues on kvm2" "kvm2 console: $(tail -3 "$(console b)" 2>&1)"
fi
xml=$(vsh b dumpxml "$VM")
verdict "console listens on kvm2's address" "$(grep -A2 '<graphics' <<<"$xml")" \
	grep -q "address='${ADDR[1]}'" <<<"$xml"

# --- A migration over its time limit is aborted ----------------------------------------------
expect "throttled migration aborted at its timeout" 0 -- "$LIVE" live_migrate_timeout
where="$(active_on) $(defined_on)"
verdict "after the abort: active and defined on kvm2 only" "$where" test "$where" = "b b"
verdict "heartbeat goes on after the abort" "$(tail -3 "$(console b)")" \
	beats_on b "$(beats b | tail -1)"

# Starts live_migrate_slow from the host the VM is on and waits until a few MiB of memory went
# across (far from done at 3 MiB/s). Sets SRC (a or b) and SENT (MiB).
slow_migration() { # LOG
	SRC=$(active_on)
	"$LIVE" live_migrate_slow >"$1" 2>&1 &
	SLOW_PID=$!
	SENT=0
	for _ in $(seq 600); do
		SENT=$(vsh "$SRC" domjobinfo "$VM" 2>/dev/null | awk '/^Memory processed:/ {
			if ($4 == "MiB") print int($3); else if ($4 == "GiB") print 1024; }')
		[ "${SENT:-0}" -ge 3 ] && return 0
		sleep 0.1
	done
	return 1
}

# Runs reconciliation as labforged does after a restart and checks that the VM is active and
# defined on exactly one host, and that its heartbeat goes on there.
reconciled() { # WHAT
	local on t=$SECONDS
	say "$1: active on $(active_on), defined on $(defined_on) before reconciliation"
	expect "$1: reconcile" 0 -- "$LIVE" live_reconcile
	grep -E '^reconciled' "$T_OUT"
	say "$1: reconciliation took $((SECONDS - t)) s"
	on=$(active_on)
	case $on in
	a | b) pass "$1: active on exactly one host afterwards (${NAMES[$(index_of "$on")]})" ;;
	*)
		fail "$1: active on exactly one host afterwards" "active on: $on"
		return
		;;
	esac
	verdict "$1: defined only where it runs" "defined on: $(defined_on), active on: $on" \
		test "$(defined_on)" = "$on"
	verdict "$1: heartbeat goes on" "$(tail -3 "$(console "$on")")" \
		beats_on "$on" "$(beats "$on" | tail -1)"
}

# --- The migrating process (labforged's role) killed halfway --------------------------------
slow_migration "$W/slow.log"
kill -9 "$SLOW_PID" 2>/dev/null
wait "$SLOW_PID" 2>/dev/null
SLOW_PID=
verdict "migrating process killed halfway (${SENT:-0} MiB sent), journal entry left" \
	"$(tail -3 "$W/slow.log"; ls "$W/journal" 2>&1)" \
	test "${SENT:-0}" -ge 3 -a -f "$W/journal/$VM.json"
reconciled "process killed"

# --- The source host's libvirtd killed halfway, then started again ----------------------------
slow_migration "$W/slow2.log"
si=$(index_of "$SRC")
kill -9 "${LIBVIRTD[si]}"
for _ in $(seq 100); do kill -0 "$SLOW_PID" 2>/dev/null || break; sleep 0.1; done
kill -9 "$SLOW_PID" 2>/dev/null
wait "$SLOW_PID" 2>/dev/null
SLOW_PID=
verdict "libvirtd of ${NAMES[si]} killed halfway (${SENT:-0} MiB sent), journal entry left" \
	"$(grep -v '^hb1: migrating' "$W/slow2.log"; ls "$W/journal" 2>&1)" \
	test "${SENT:-0}" -ge 3 -a -f "$W/journal/$VM.json"
verdict "the migrating process says it lost libvirt" "$(tail -3 "$W/slow2.log")" \
	grep -q 'lost libvirt on' "$W/slow2.log"
start_libvirtd "$si"
reconciled "libvirtd killed"

# --- Shutdown of a guest that ignores ACPI ----------------------------------------------------
expect "shutdown falls back to destroy, then undefine" 0 -- "$LIVE" live_shutdown
verdict "nothing left on either host" "defined on: $(defined_on)" test "$(defined_on)" = none

finish
