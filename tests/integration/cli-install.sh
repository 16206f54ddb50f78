#!/usr/bin/env bash
# labforge-install install without disks: settings from a kernel command line file and options
# (bad ones exit 2 naming the key), dry runs that print the plan and the steps, a damaged image
# refused before anything runs. Every tool the executor could run (wipefs, sfdisk, mdadm, lvm,
# mkfs, mount, ...) is replaced on PATH by a script that logs its call: the log must stay empty.
. "$(dirname "$0")/../lib.sh"
fx=$LF_TOP/tests/fixtures/planner
lab=$fx/labs/room.xml
inv=$fx/kvm-one-disk.inventory.json
zero=$(printf '%064d' 0)

tools=$T_TMP/tools calls=$T_TMP/calls target=$T_TMP/target
mkdir -p "$tools" "$target"
: >"$calls"
for t in wipefs sfdisk sgdisk mdadm lvm pvcreate pvremove vgcreate vgchange vgremove lvcreate \
	mkfs mkfs.ext4 mkfs.vfat mke2fs mkfs.fat mount umount blkid blockdev partx udevadm chroot \
	update-initramfs grub-install update-grub dd; do
	printf '#!/bin/sh\necho "%s $*" >>%s\nexit 1\n' "$t" "$calls" >"$tools/$t"
	chmod +x "$tools/$t"
done
export PATH="$tools:$PATH"
nothing_ran() { # NAME: no tool was called and the target is still empty
	if [ -s "$calls" ]; then
		fail "$1: no command ran" "$(head -5 "$calls")"
	elif [ -n "$(ls -A "$target")" ]; then
		fail "$1: target untouched" "$(ls -A "$target" | head -5)"
	else
		pass "$1: nothing ran, nothing written"
	fi
}

cmdline=$T_TMP/cmdline
echo 'BOOT_IMAGE=/vmlinuz console=ttyS0 quiet labforge.net=dhcp' >"$cmdline"
install() { "$LABFORGE_INSTALL" install --cmdline "$cmdline" --target "$target" "$@"; }
standalone=(--manifest "$lab" --node kvm1 --inventory "$inv" --image "$T_TMP/none.tar.zst"
	--sha256 "$zero")

# --- Bad settings: exit 2, the key named, nothing run ---------------------------------------
bad() { # NAME STDERR-SUBSTRING ARGS...
	local name=$1 want=$2
	shift 2
	expect "$name" 2 "$want" -- install "$@"
	nothing_ran "$name"
}
bad "no settings" "nothing to install from"
bad "mode" "--mode: 'foo' is not a mode; use install or discover" "${standalone[@]}" --mode foo
bad "reboot" "--reboot: '2' must be 1" "${standalone[@]}" --reboot 2
bad "sha256" "--sha256: 'xyz' is not a SHA-256" "${standalone[@]}" --sha256 xyz
bad "appliance URL" "--appliance: 'ftp://x' is not an http:// or https:// URL" --appliance ftp://x
bad "appliance and manifest" "--manifest: not with labforge.appliance=" \
	--appliance http://127.0.0.1:9/api/v1/nodes/52:54:00:00:02:01 --manifest "$lab"
bad "token alone" "--token: a token is only for labforge.appliance=" "${standalone[@]}" --token t
bad "node missing" "labforge.node= (or --node) is missing" --manifest "$lab" \
	--image x --sha256 "$zero"
bad "image missing" "labforge.image= (or --image) is missing" --manifest "$lab" --node kvm1 \
	--sha256 "$zero"
bad "plan and manifest" "give a ready plan or a manifest to plan from, not both" \
	"${standalone[@]}" --plan "$fx/kvm-one-disk.plan.json"
bad "empty value" "--node: the value is empty" "${standalone[@]}" --node ''
bad "fetch mode" "--fetch-mode must be auto, ram or stream" "${standalone[@]}" --fetch-mode x
bad "dry run in appliance mode" "a dry run cannot use the appliance" --dry-run \
	--appliance http://127.0.0.1:9/api/v1/nodes/52:54:00:00:02:01
bad "unknown node" "kvm9" "${standalone[@]}" --node kvm9 --dry-run
bad "missing manifest" "nosuch.xml: cannot open" "${standalone[@]}" --manifest "$T_TMP/nosuch.xml"
bad "plan of another node" "is the plan of node 'kvm1', not of 'kvm2'" \
	--plan "$fx/kvm-one-disk.plan.json" --node kvm2 --image x --sha256 "$zero" --dry-run
expect "missing cmdline file" 2 "cannot open" -- "$LABFORGE_INSTALL" install \
	--cmdline "$T_TMP/nosuch" "${standalone[@]}"

# The kernel command line: its keys are read, checked and named as such.
echo 'quiet labforge.sha256=xyz labforge.nodes=kvm1 labforge.shell=1 labforge.node' >"$cmdline"
expect "cmdline: bad sha256 and unknown key" 2 "unknown setting 'labforge.nodes'" -- install
grep -qF "labforge.node needs a value" "$T_ERR" && pass "cmdline: key without value" ||
	fail "cmdline: key without value" "$(cat "$T_ERR")"
grep -q "shell" "$T_ERR" && fail "cmdline: /init's keys are not the installer's" ||
	pass "cmdline: /init's keys are not the installer's"
echo "labforge.manifest=$lab labforge.node=kvm1 labforge.image=x labforge.sha256=xyz" >"$cmdline"
expect "cmdline: value checked" 2 "labforge.sha256= ($cmdline): 'xyz' is not a SHA-256" -- \
	install --inventory "$inv" --dry-run
nothing_ran "cmdline: value checked"

# --- Dry runs: the plan and the steps, nothing run --------------------------------------------
echo "labforge.manifest=$lab labforge.node=nosuch labforge.image=$T_TMP/x.tar.zst" \
	"labforge.sha256=$zero labforge.reboot=0" >"$cmdline"
expect "dry run: cmdline and an option over it" 0 -- install --node kvm1 --inventory "$inv" \
	--dry-run
grep -q "^labforge install plan for node kvm1 (role kvm)" "$T_OUT" &&
	grep -qF "download $T_TMP/x.tar.zst and verify its SHA-256 $zero before any disk write" \
		"$T_OUT" &&
	grep -qF "prepare the disks" "$T_OUT" && grep -qF "extract the image into $target" "$T_OUT" &&
	grep -qF "configure the target" "$T_OUT" &&
	[ "$(tail -n 1 "$T_OUT")" = "labforge: dry run complete: nothing was written" ] &&
	pass "dry run: plan, steps, closing line" || fail "dry run: plan, steps, closing line" \
	"$(cat "$T_OUT")"
grep -Eq '^\[3/[0-9]+\] +[0-9]+% Planning node kvm1$' "$T_OUT" && pass "dry run: step counter" ||
	fail "dry run: step counter" "$(grep '^\[' "$T_OUT")"
nothing_ran "dry run"

echo 'quiet' >"$cmdline"
expect "dry run: ready plan" 0 -- install --plan "$fx/kvm-one-disk.plan.json" --image x \
	--sha256 "$zero" --dry-run
grep -q "^labforge install plan for node kvm1" "$T_OUT" &&
	grep -Eq '^\[1/[0-9]+\] +0% Reading the plan' "$T_OUT" &&
	pass "dry run: ready plan printed" || fail "dry run: ready plan printed" "$(cat "$T_OUT")"
nothing_ran "dry run: ready plan"

expect "discover: inventory printed" 0 -- install --mode discover --inventory "$inv"
sed -n '/^{/,/^}/p' "$T_OUT" | jq -e '.disks[0].name == "nvme0n1"' >/dev/null &&
	[ "$(tail -n 1 "$T_OUT")" = "labforge: discovery complete" ] &&
	pass "discover: inventory JSON, closing line" || fail "discover: inventory JSON" "$(cat "$T_OUT")"
nothing_ran "discover"

# --- A damaged image: refused before any disk write (DESIGN §8 property 2) -------------------
mkdir -p "$T_TMP/tree/etc"
echo hello >"$T_TMP/tree/etc/motd"
"$LABFORGE" image pack "$T_TMP/tree" "$T_TMP/good.tar.zst" >/dev/null
sha=$(sha256sum <"$T_TMP/good.tar.zst" | cut -d' ' -f1)
cp "$T_TMP/good.tar.zst" "$T_TMP/bad.tar.zst"
printf '\377' | /bin/dd of="$T_TMP/bad.tar.zst" bs=1 seek=20 conv=notrunc status=none
refused="labforge: install failed: the image's SHA-256 does not match; the disks were not"
refused+=" touched: check labforge.image= and labforge.sha256="
for mode in ram stream; do
	expect "damaged image ($mode)" 1 "SHA-256 is" -- install --manifest "$lab" --node kvm1 \
		--inventory "$inv" --image "$T_TMP/bad.tar.zst" --sha256 "$sha" --fetch-mode $mode
	[ "$(tail -n 1 "$T_OUT")" = "$refused" ] &&
		pass "damaged image ($mode): closing line" ||
		fail "damaged image ($mode): closing line" "$(tail -n 3 "$T_OUT")"
	nothing_ran "damaged image ($mode)"
done

finish
