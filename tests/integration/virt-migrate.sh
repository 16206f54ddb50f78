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
DAEMON=() # labforged of each host
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
	for h in "${DAEMON[@]}" "${LIBVIRTD[@]}" "${HOLDER[@]}"; do kill "$h" 2>/dev/null; done
	for h in "${DAEMON[@]}" "${LIBVIRTD[@]}" "${HOLDER[@]}"; do
		for _ in $(seq 100); do kill -0 "$h" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$h" 2>/dev/null
	done
	# Whatever still runs in these hosts' network namespaces is this test's (guests included).
	for h in "${NS[@]}"; do
		ip netns pids "$h" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$h" 2>/dev/null
	done
	[ -n "${labforge_dir:-}" ] && [ -z "${LF_TEST_KEEP_TMP:-}" ] && rm -rf "$labforge_dir"
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
# /var/lib/labforge of each host (golden copy and VM overlays): local disks, as in a lab without
# a storage node. Not under /tmp: cache=none disks need O_DIRECT, which a tmpfs /tmp refuses.
labforge_dir=$(mktemp -d "$(realpath "$LF_BUILD")/virt-migrate.XXXXXX")
mkdir -p "$labforge_dir"/{a,b}/{images,vms}
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
for d in /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt \
	/etc/corosync /var/lib/corosync /var/log/corosync /var/lib/labforge; do
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
	# A private /run, /dev/shm and corosync directories: each host runs its own corosync (with
	# labforged, below), and two of them must not share a pid file or IPC files. /dev/kvm is
	# hidden: libvirt then offers TCG only, so labforged's domains run as they would on a PC
	# without VT-x (nested KVM on a build machine is not to be relied on).
	mkdir -p "$d"/{corosync/etc,corosync/lib,corosync/log,state,conf}
	ip netns exec "${NS[$i]}" unshare --mount --uts --propagation private -- bash -c "
		set -e
		hostname ${NAMES[$i]}
		mount -t tmpfs lf-run /run
		mkdir /run/libvirt
		mount -t tmpfs lf-shm /dev/shm
		if [ -e /dev/kvm ]; then touch $d/no-kvm; mount --bind $d/no-kvm /dev/kvm; fi
		mount --bind $d/corosync/etc /etc/corosync
		mount --bind $d/corosync/lib /var/lib/corosync
		mount --bind $d/corosync/log /var/log/corosync
		mount --bind $labforge_dir/$h /var/lib/labforge
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


# --- labforged migrates: the leader evacuates a host in maintenance --------------------------
# Both hosts now run labforged with real corosync (it writes corosync.conf and starts corosync
# itself) and libvirt's qemu driver. The VM comes from a template: a blank golden image (a copy
# on each host) under a local overlay that migrates with the VM, so it boots no further than
# its firmware, which is enough to show where it runs.
LABFORGED=$(realpath "$LF_BUILD/bin/labforged")
head -c 256 /dev/urandom >"$W/authkey"
truncate -s 16M "$labforge_dir/a/images/blank.raw"
cp "$labforge_dir/a/images/blank.raw" "$labforge_dir/b/images/blank.raw"
cat >"$W/lab.xml" <<LAB
<lab name="lf-migrate">
  <appliance interface="eth0" address="10.231.7.254/24"/>
  <network><management subnet="10.231.7.0/24"/></network>
  <node name="${NAMES[0]}" role="kvm" mac="52:54:00:31:70:01" address="${ADDR[0]}"/>
  <node name="${NAMES[1]}" role="kvm" mac="52:54:00:31:70:02" address="${ADDR[1]}"/>
  <policy>
    <class-hours days="mon-sun" from="00:00" to="23:59"/>
    <compute sample="2s" window="1m"/>
    <boot stagger="1s" batch="1"/>
  </policy>
  <template name="blank" image="blank.raw" memory="64" vcpus="1"/>
</lab>
LAB
for i in 0 1; do
	h=$(host_letter "$i")
	install -m 0400 "$W/authkey" "$W/$h/corosync/etc/authkey"
	cat >"$W/$h/conf/node.conf" <<CONF
# written by tests/integration/virt-migrate.sh
node = ${NAMES[$i]}
nodeid = $((i + 1))
manifest = $W/lab.xml
libvirt_uri = qemu:///system
corosync_conf = /etc/corosync/corosync.conf
authkey = /etc/corosync/authkey
bind_address = ${ADDR[$i]}
# Never this machine: nothing in this test is to be powered off.
power_off_command = /bin/false
CONF
done

start_labforged() { # INDEX
	local i=$1 h
	h=$(host_letter "$i")
	nsenter -t "${HOLDER[$i]}" -n -m -u -- "$LABFORGED" --config "$W/$h/conf" \
		--state-dir "$W/$h/state" >>"$W/$h/labforged.log" 2>&1 &
	DAEMON[i]=$!
	disown $!
}
lf() { local h=$1; shift; "$LABFORGE" "$@" --state-dir "$W/$h/state"; }
# lf_wait NAME JQ-FILTER: passes once the filter holds for the status of both hosts.
lf_wait() {
	local name=$1 filter=$2 h ok
	for _ in $(seq 240); do
		ok=1
		for h in a b; do
			lf "$h" status --format json 2>/dev/null | jq -e "$filter" >/dev/null 2>&1 ||
				{ ok=0; break; }
		done
		[ "$ok" = 1 ] && { pass "$name"; return 0; }
		sleep 0.5
	done
	fail "$name" "kvm1: $(lf a status --format json 2>&1 | jq -c . 2>&1)" \
		"kvm2: $(lf b status --format json 2>&1 | jq -c . 2>&1)" \
		"$(tail -n 8 "$W/a/labforged.log")" "$(tail -n 8 "$W/b/labforged.log")"
	return 1
}
vm_on() { echo "(.vms[] | select(.name == \"$VM\") | [.host, .state]) == [\"$1\", \"running\"]"; }
host_is() { echo "(.hosts[] | select(.name == \"$1\") | .state) == \"$2\""; }

t0=$SECONDS
start_labforged 0
start_labforged 1
lf_wait "labforged on both hosts: quorate, kvm1 leads" \
	".quorate == true and .leader == \"kvm1\" and $(host_is kvm1 up) and $(host_is kvm2 up)"
say "cluster formed in $((SECONDS - t0)) s"

VM=mig01
expect "kvm2 into maintenance (so the VM goes to kvm1)" 0 -- lf b host maintenance kvm2 on
lf_wait "kvm2 is in maintenance" "$(host_is kvm2 maintenance)"
expect "vm start from the template" 0 -- lf b vm start blank --count 1 --prefix mig
lf_wait "$VM runs on kvm1" "$(vm_on kvm1)"
verdict "libvirt: active on kvm1 only" "active on: $(active_on)" test "$(active_on)" = a
verdict "its overlay is in kvm1's /var/lib/labforge/vms" "$(ls -R "$labforge_dir")" \
	test -f "$labforge_dir/a/vms/$VM.qcow2"

expect "kvm2 out of maintenance" 0 -- lf a host maintenance kvm2 off
lf_wait "kvm2 is up again" "$(host_is kvm2 up)"
t0=$SECONDS
expect "kvm1 into maintenance" 0 -- lf a host maintenance kvm1 on
lf_wait "the leader evacuates $VM to kvm2 by live migration" "$(vm_on kvm2)"
say "evacuation took $((SECONDS - t0)) s"
verdict "libvirt: active and defined on kvm2 only" \
	"active on: $(active_on), defined on: $(defined_on)" \
	test "$(active_on) $(defined_on)" = "b b"
verdict "kvm1's labforged migrated it (its log says so)" "$(tail -n 5 "$W/a/labforged.log")" \
	grep -q "$VM migrated from kvm1 to kvm2" "$W/a/labforged.log"
verdict "persistent on kvm2" "$(vsh b dominfo "$VM")" persistent b
verdict "its overlay moved with it: on kvm2, gone from kvm1" "$(ls -R "$labforge_dir")" \
	test -f "$labforge_dir/b/vms/$VM.qcow2" -a ! -e "$labforge_dir/a/vms/$VM.qcow2"

# --- labforged killed mid-migration, then started again ---------------------------------------
# Migration data (libvirt's ports 49152-49215) leaves kvm2 slowly, so the kill lands halfway;
# corosync and libvirt's own connections keep their speed.
dev=${NS[1]}
ip netns exec "$dev" sh -c "
	tc qdisc add dev $dev root handle 1: htb default 10 &&
	tc class add dev $dev parent 1: classid 1:10 htb rate 10gbit quantum 60000 &&
	tc class add dev $dev parent 1: classid 1:20 htb rate 256kbit ceil 256kbit quantum 1514 &&
	tc filter add dev $dev parent 1: protocol ip u32 match ip dport 49152 0xffc0 flowid 1:20" ||
	die "slow migration link" "tc cannot shape kvm2's migration traffic"
expect "kvm1 out of maintenance" 0 -- lf a host maintenance kvm1 off
lf_wait "kvm1 is up again" "$(host_is kvm1 up)"
expect "kvm2 into maintenance" 0 -- lf a host maintenance kvm2 on
SENT=
for _ in $(seq 600); do
	SENT=$(vsh b domjobinfo "$VM" 2>/dev/null | awk '/^Memory processed:/ { print $3, $4 }')
	[ -n "$SENT" ] && [ "${SENT%% *}" != 0.000 ] && break
	SENT=
	sleep 0.1
done
kill -9 "${DAEMON[1]}"
verdict "kvm2's labforged killed during its migration ($SENT sent)" \
	"$(vsh b domjobinfo "$VM" 2>&1; tail -n 5 "$W/b/labforged.log")" test -n "$SENT"
verdict "its migration journal has the entry" "$(ls -l "$W/b/state/migrations" 2>&1)" \
	test -f "$W/b/state/migrations/$VM.json"
t0=$SECONDS
start_labforged 1
# Settled: no migration job on either host, and the VM active and defined on one host.
no_job() { ! vsh "$1" domjobinfo "$VM" 2>/dev/null | grep -q '^Job type: *\(Bounded\|Unbounded\)'; }
settled() {
	no_job a && no_job b || return 1
	case $(active_on) in a | b) ;; *) return 1 ;; esac
	test "$(defined_on)" = "$(active_on)"
}
for _ in $(seq 360); do settled && break; sleep 0.5; done
on=$(active_on)
say "settled $((SECONDS - t0)) s after the restart: active on $on, defined on $(defined_on)"
case $on in
a | b) pass "after the restart: active on exactly one host (${NAMES[$(index_of "$on")]})" ;;
*) fail "after the restart: active on exactly one host" "active on: $on" ;;
esac
verdict "after the restart: defined only where it runs" "defined on: $(defined_on)" \
	test "$(defined_on)" = "$on"
# libvirt finishes (or fails) the migration without labforged; the daemon reconciles once the
# job is over.
for _ in $(seq 60); do grep -q "Reconciled $VM" "$W/b/labforged.log" && break; sleep 0.5; done
verdict "kvm2's labforged reconciled the cut-short migration" "$(tail -n 8 "$W/b/labforged.log")" \
	grep -q "Reconciled $VM" "$W/b/labforged.log"
verdict "its overlay is where it runs" "$(ls -R "$labforge_dir")" \
	test -f "$labforge_dir/$on/vms/$VM.qcow2"
verdict "the journal entry is gone" "$(ls -l "$W/b/state/migrations" 2>&1)" \
	test ! -e "$W/b/state/migrations/$VM.json"
case $on in
a) lf_wait "the cluster shows $VM running on kvm1" "$(vm_on kvm1)" ;;
b) lf_wait "the cluster shows $VM running on kvm2" "$(vm_on kvm2)" ;;
esac

finish
