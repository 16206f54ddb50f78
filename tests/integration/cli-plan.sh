#!/usr/bin/env bash
# labforge plan: JSON and text plans of the example room (keys of DESIGN §5.3, same bytes each
# run), and every kind of bad input: exit status 2, the problem on stderr, nothing on stdout.
. "$(dirname "$0")/../lib.sh"
room=$LF_TOP/examples/room-301
fx=$LF_TOP/tests/fixtures/planner
keys=node,role,disks,partitions,arrays,volume_groups,logical_volumes,filesystems,exports,mounts,network,sysctl,warnings,skipped_disks

plan() { "$LABFORGE" plan --manifest "$room/lab.xml" "$@"; }

for n in store1 kvm1 kvm2 login; do
	inv=$room/inventories/$n.json
	expect "$n json" 0 -- plan --node "$n" --inventory "$inv"
	got=$(jq -r 'keys_unsorted | join(",")' "$T_OUT" 2>&1)
	[ "$got" = "$keys" ] && pass "$n json keys" || fail "$n json keys" "got: $got"
	cp "$T_OUT" "$T_TMP/$n.json"
	expect "$n json again" 0 -- plan --node "$n" --inventory "$inv" --format json
	cmp -s "$T_OUT" "$T_TMP/$n.json" && pass "$n json same bytes" || fail "$n json same bytes"
	expect "$n text" 0 -- plan --node "$n" --inventory "$inv" --format text
	grep -q "^labforge install plan for node $n " "$T_OUT" && grep -q "^THIS PLAN ERASES" "$T_OUT" \
		&& pass "$n text" || fail "$n text" "$(head -5 "$T_OUT")"
done

# What the room's plans say, checked against the manifest and the inventories.
jq -e '.arrays | map(.device) == ["/dev/md/fast", "/dev/md/bulk"]' "$T_TMP/store1.json" >/dev/null \
	&& pass "store1 arrays" || fail "store1 arrays"
jq -e '.exports[0].clients == "10.10.0.0/16" and .logical_volumes[0].name == "vmbase"' \
	"$T_TMP/store1.json" >/dev/null && pass "store1 export and vmbase" || fail "store1 export"
jq -e '[.network[] | select(.kind == "storage-link") | .addresses[0]] == ["10.10.0.0/31", "10.10.0.2/31"]' \
	"$T_TMP/store1.json" >/dev/null && pass "store1 link addresses" || fail "store1 link addresses"
jq -e '.mounts[0].source == "10.10.0.2:/srv/labforge/vms" and .network[1].addresses == ["10.10.0.3/31"]' \
	"$T_TMP/kvm2.json" >/dev/null && pass "kvm2 mount and link" || fail "kvm2 mount and link"

# Bad input: each one exit 2, a specific message, and nothing on stdout.
bad() {
	local name=$1 want=$2
	shift 3
	expect "$name" 2 "$want" -- "$@"
	[ -s "$T_OUT" ] && fail "$name: nothing on stdout" "stdout: $(head -c 300 "$T_OUT")" \
		|| pass "$name: nothing on stdout"
}
inv=$room/inventories/store1.json

bad "missing manifest" "$T_TMP/none.xml" -- \
	"$LABFORGE" plan --manifest "$T_TMP/none.xml" --node store1 --inventory "$inv"
printf '<lab name="x">\n  <node name="a"\n</lab>\n' >"$T_TMP/malformed.xml"
bad "malformed XML" "malformed.xml:3" -- \
	"$LABFORGE" plan --manifest "$T_TMP/malformed.xml" --node store1 --inventory "$inv"
sed 's| mac="52:54:00:00:01:01"||' "$room/lab.xml" >"$T_TMP/schema.xml"
bad "schema violation" "schema.xml:12" -- \
	"$LABFORGE" plan --manifest "$T_TMP/schema.xml" --node store1 --inventory "$inv"
bad "unknown node" "no node named 'store9' in this lab; its nodes are: store1, kvm1, kvm2, login" -- \
	plan --node store9 --inventory "$inv"
bad "missing inventory" "$T_TMP/none.json" -- plan --node store1 --inventory "$T_TMP/none.json"
jq 'del(.disks[1].size_bytes)' "$inv" >"$T_TMP/nokey.json"
bad "inventory missing key" "nokey.json: disks[1]: missing required key \"size_bytes\"" -- \
	plan --node store1 --inventory "$T_TMP/nokey.json"
jq '.disks[0].rotational = "no"' "$inv" >"$T_TMP/type.json"
bad "inventory wrong type" "type.json: disks[0].rotational: expected true or false" -- \
	plan --node store1 --inventory "$T_TMP/type.json"
jq '.disks |= map(.removable = true)' "$inv" >"$T_TMP/removable.json"
bad "storage without a usable disk" \
	"node store1 (role storage) has no disk labforge can install on (sda: removable medium" -- \
	plan --node store1 --inventory "$T_TMP/removable.json"
bad "storage without room for VMs" "node store1 (role storage) has no room for the VM store" -- \
	"$LABFORGE" plan --manifest "$fx/labs/room.xml" --node store1 \
	--inventory "$fx/storage-tiny.inventory.json"
jq '.disks[2].signatures = ["linux_raid_member"]' "$inv" >"$T_TMP/old-raid.json"
bad "old md member under policy never" \
	"disk sdc (WDC WD40EFZX-68AWUN0, serial WD-WX12D80K1234, /dev/disk/by-id/ata-WDC_WD40EFZX-68AWUN0_WD-WX12D80K1234) is not blank: it holds linux_raid_member" -- \
	plan --node store1 --inventory "$T_TMP/old-raid.json"
jq '.nics[0].mac = "52:54:00:00:01:99"' "$inv" >"$T_TMP/mac.json"
bad "management NIC missing" "node store1: management MAC 52:54:00:00:01:01 is on no NIC" -- \
	plan --node store1 --inventory "$T_TMP/mac.json"

bad "missing --node" "--manifest, --node and --inventory are all required" -- \
	"$LABFORGE" plan --manifest "$room/lab.xml" --inventory "$inv"
bad "bad --format" "--format must be json or text, not 'yaml'" -- \
	plan --node store1 --inventory "$inv" --format yaml
bad "stray argument" "unexpected argument 'extra'" -- plan --node store1 --inventory "$inv" extra
bad "unknown option" "unrecognized option '--disk'" -- plan --node store1 --disk sda
expect "plan --help" 0 "" -- "$LABFORGE" plan --help
grep -q "^usage: labforge plan" "$T_OUT" && pass "help on stdout" || fail "help on stdout"
finish
