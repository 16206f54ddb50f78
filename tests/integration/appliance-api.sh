#!/usr/bin/env bash
# labforge serve on loopback, driven with curl through the node API of docs/api.md, and the
# admin verbs (nodes, assign, rebuild, logs, forget) over its socket: discovery, one-time
# tokens, progress to deployed, boot scripts by state, rebuild, failure with its log tail,
# refused input changing nothing, image downloads with ranges, and state kept across restarts.
. "$(dirname "$0")/../lib.sh"

for tool in curl jq sha256sum; do
	command -v $tool >/dev/null || { skip "appliance API" "$tool is not installed"; finish; exit 77; }
done

state=$T_TMP/state images=$T_TMP/images
mkdir -p "$images"
MAC_STORE=52:54:00:00:01:01 MAC_KVM1=52:54:00:00:02:01 MAC_KVM2=52:54:00:00:02:02
MAC_NEW=52:54:00:aa:bb:cc
serve_pid=

stop_serve() {
	[ -n "$serve_pid" ] || return 0
	kill -TERM "$serve_pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$serve_pid" 2>/dev/null
	wait "$serve_pid" 2>/dev/null
	serve_rc=$?
	serve_pid=
}
trap 'stop_serve; rm -rf "$T_TMP"' EXIT

# write_manifest FILE PORT [NODES...]: a lab with the given <node> lines (default all three).
write_manifest() {
	local file=$1 port=$2
	shift 2
	[ $# -gt 0 ] || set -- "store1 storage $MAC_STORE" "kvm1 kvm $MAC_KVM1" "kvm2 kvm $MAC_KVM2"
	{
		echo '<lab name="apitest">'
		echo "  <appliance interface=\"lo\" address=\"192.168.50.1/24\" http-port=\"$port\"/>"
		echo '  <network><management subnet="192.168.50.0/24"/></network>'
		for n in "$@"; do
			set -- $n
			echo "  <node name=\"$1\" role=\"$2\" mac=\"$3\"/>"
		done
		echo '</lab>'
	} >"$file"
}

# Images: the netboot pair and role images with their images.json entries.
head -c 300000 /dev/urandom >"$images/vmlinuz"
head -c 500000 /dev/urandom >"$images/initramfs.cpio.gz"
head -c 3000000 /dev/urandom >"$images/kvm.tar.zst"
head -c 2000000 /dev/urandom >"$images/storage.tar.zst"
echo secret >"$T_TMP/outside"
for f in vmlinuz initramfs.cpio.gz kvm.tar.zst storage.tar.zst; do
	jq -n --arg n $f --argjson s "$(stat -c %s "$images/$f")" \
		--arg h "$(sha256sum <"$images/$f" | cut -d' ' -f1)" '{name: $n, size: $s, sha256: $h}'
done | jq -s '{images: .}' >"$images/images.json"

# start_serve [MANIFEST]: starts labforge serve on a free loopback port (retrying ports), waits
# until it answers. Sets $port, $base, $serve_pid, $serve_log.
start_serve() {
	local manifest=${1:-} try
	serve_log=$T_TMP/serve.log
	for try in 1 2 3 4 5 6 7 8; do
		port=${fixed_port:-$((20000 + RANDOM % 40000))}
		[ -n "${1:-}" ] || { manifest=$T_TMP/lab.xml; write_manifest "$manifest" "$port"; }
		"$LABFORGE" serve --manifest "$manifest" --state-dir "$state" --images "$images" \
			--listen 127.0.0.1 --no-dhcp >"$serve_log" 2>&1 &
		serve_pid=$!
		base=http://127.0.0.1:$port
		for _ in $(seq 100); do
			kill -0 "$serve_pid" 2>/dev/null || break
			[ -S "$state/labforge.sock" ] && curl -s -m 2 -o /dev/null "$base/" && return 0
			sleep 0.1
		done
		stop_serve
		grep -q "Cannot serve HTTP" "$serve_log" || break
	done
	echo "labforge serve did not start:"; cat "$serve_log"
	return 1
}

# http METHOD PATH [CURL-ARGS...]: the status in $code, the body in $T_TMP/body.
http() {
	local method=$1 path=$2
	shift 2
	code=$(curl -s -m 10 -o "$T_TMP/body" -w '%{http_code}' -X "$method" "$@" "$base$path")
}
nodes_json() { "$LABFORGE" nodes --state-dir "$state" --format json; }
node_field() { nodes_json | jq -r --arg k "$1" ".nodes[] | select(.name == \$k or .mac == \$k) | .$2"; }
check() { # NAME COMMAND...: passes when the command succeeds
	local name=$1
	shift
	if "$@" >/dev/null; then pass "$name"; else fail "$name" "status: ${code:-} body: $(head -c 600 "$T_TMP/body" 2>/dev/null)"; fi
}
# expect_unchanged NAME: the node list is what $before holds.
expect_unchanged() {
	local after
	after=$(nodes_json)
	if [ -n "$before" ] && [ "$after" = "$before" ]; then pass "$1: nothing changed"; else
		fail "$1: nothing changed" "$(diff <(echo "$before") <(echo "$after") | head -20)"; fi
}

# --- without an appliance -------------------------------------------------------------------
expect "nodes without appliance" 1 "no appliance is running with state directory $state" -- \
	"$LABFORGE" nodes --state-dir "$state"
write_manifest "$T_TMP/bad.xml" 8180 "kvm1 kvm $MAC_KVM1" "kvm1 kvm $MAC_KVM2"
expect "serve refuses a bad manifest" 2 "bad.xml:" -- \
	"$LABFORGE" serve --manifest "$T_TMP/bad.xml" --state-dir "$state" --no-dhcp
expect "serve with DHCP refuses a bad manifest before starting dnsmasq" 2 "bad.xml:" -- \
	"$LABFORGE" serve --manifest "$T_TMP/bad.xml" --state-dir "$state"
expect "serve: bad --listen" 2 "--listen 'nope'" -- \
	"$LABFORGE" serve --manifest "$T_TMP/bad.xml" --listen nope --no-dhcp

start_serve || { fail "serve starts"; finish; exit 1; }
pass "serve starts on $base"
check "socket is mode 0600" test "$(stat -c %a "$state/labforge.sock")" = 600
expect "second serve on the same state dir" 1 "another 'labforge serve'" -- \
	"$LABFORGE" serve --manifest "$T_TMP/lab.xml" --state-dir "$state" --listen 127.0.0.1:1 \
	--no-dhcp

check "manifest nodes are ready" test "$(nodes_json | jq -c '[.nodes[] | [.name, .state, .nodeid]]')" = \
	'[["store1","ready",1],["kvm1","ready",2],["kvm2","ready",3]]'

# --- discovery --------------------------------------------------------------------------------
http GET "/boot/$MAC_NEW.ipxe"
check "unknown MAC gets the discovery script" grep -q "labforge.mode=discover .*labforge.reboot=0" "$T_TMP/body"
check "discovery script points at the node API" grep -q "labforge.appliance=$base/api/v1/nodes/$MAC_NEW " "$T_TMP/body"
check "unknown MAC is not recorded by a boot" test "$(nodes_json | jq '.nodes | length')" = 3
http GET "/boot/52:54:00:AA:BB:CC.ipxe"
check "uppercase MAC in URL is 404" test "$code" = 404
before=$(nodes_json)
http POST "/api/v1/nodes/$MAC_NEW/inventory" -H 'Content-Type: application/json' --data-binary '{"machine": '
check "invalid JSON inventory is 400" test "$code" = 400
check "400 names the problem" jq -e '.error | contains("malformed JSON")' "$T_TMP/body"
expect_unchanged "invalid JSON inventory"
http POST "/api/v1/nodes/$MAC_NEW/inventory" --data-binary '{"machine": {}, "disks": [], "nics": 3}'
check "wrong inventory fields are 400" test "$code" = 400
check "400 lists each field" jq -e '[.problems[] | select(contains("nics"))] | length > 0' "$T_TMP/body"
expect_unchanged "wrong inventory"
head -c $((2 * 1024 * 1024)) /dev/zero >"$T_TMP/big"
http POST "/api/v1/nodes/$MAC_NEW/inventory" --data-binary @"$T_TMP/big"
check "2 MiB body is 413" test "$code" = 413
expect_unchanged "oversized body"
http POST "/api/v1/nodes/$MAC_NEW/inventory" --data-binary @"$LF_TOP/tests/fixtures/inventory/full.json"
check "inventory upload" test "$code" = 200
check "unknown MAC is discovered" test "$(node_field $MAC_NEW state)" = discovered
check "nodes --format json carries the uploaded inventory" test "$(node_field $MAC_NEW 'inventory.disks | length')" = 3
check "discovered node shows its hardware" bash -c "$LABFORGE nodes --state-dir $state | grep -q '^-  *$MAC_NEW  *-  *discovered  *-  *discovered: 8 CPUs, 32.0 GiB memory, 3 disks'"
http POST "/api/v1/nodes/$MAC_KVM1/inventory" --data-binary @"$LF_TOP/tests/fixtures/inventory/full.json"
check "assigned node cannot be rediscovered (409)" test "$code" = 409

# --- install of kvm1: token once, progress, complete --------------------------------------------
http GET "/boot/$MAC_KVM1.ipxe"
check "ready node gets the install script" grep -q "labforge.mode=install labforge.appliance=$base/api/v1/nodes/$MAC_KVM1 " "$T_TMP/body"
check "install script boots the netboot pair" bash -c "grep -q '^kernel $base/images/vmlinuz ' '$T_TMP/body' && grep -q '^initrd $base/images/initramfs.cpio.gz$' '$T_TMP/body'"
check "no token in the boot script" bash -c "! grep -qi token '$T_TMP/body'"
http POST "/api/v1/nodes/$MAC_KVM1/assignment"
check "assignment answers 200" test "$code" = 200
token=$(jq -r .token "$T_TMP/body")
check "assignment has a 64-hex token" grep -qxE '[0-9a-f]{64}' <<<"$token"
check "assignment names node, role, id and image" jq -e --arg h "$(sha256sum <"$images/kvm.tar.zst" | cut -d' ' -f1)" --arg b "$base" \
	'.node == "kvm1" and .role == "kvm" and .nodeid == 2 and .image.sha256 == $h and .image.url == ($b + "/images/kvm.tar.zst") and .image.size == 3000000' "$T_TMP/body"
check "kvm1 is installing" test "$(node_field kvm1 state)" = installing
before=$(nodes_json)
http GET "/api/v1/nodes/$MAC_KVM1/assignment"
check "second assignment lookup is refused (409)" test "$code" = 409
check "no token in the refusal" bash -c "! grep -q '$token' '$T_TMP/body'"
expect_unchanged "second assignment"
prog='{"step": "[2/5] partitioning", "percent": 40}'
http POST "/api/v1/nodes/$MAC_KVM1/progress" --data-binary "$prog"
check "progress without token is 401" test "$code" = 401
wrong=$(printf '%s' "$token" | tr 0-9a-f 1-9a-f0)
http POST "/api/v1/nodes/$MAC_KVM1/progress" -H "Authorization: Bearer $wrong" --data-binary "$prog"
check "progress with a wrong token is 403" test "$code" = 403
http POST "/api/v1/nodes/$MAC_KVM2/progress" -H "Authorization: Bearer $token" --data-binary "$prog"
check "kvm1's token does not work for kvm2 (403)" test "$code" = 403
http POST "/api/v1/nodes/$MAC_KVM1/progress" -H "Authorization: Bearer $token" --data-binary '{"step": "x", "percent": 40'
check "progress with invalid JSON is 400" test "$code" = 400
http POST "/api/v1/nodes/$MAC_KVM1/progress" -H "Authorization: Bearer $token" --data-binary '{"step": "x", "percent": 140, "colour": 1}'
check "progress out of range and unknown key are 400" jq -e '(.problems | length) == 2' "$T_TMP/body"
http POST "/api/v1/nodes/$MAC_KVM1/progress" -H "Authorization: Bearer $token" --data-binary @"$T_TMP/big"
check "oversized progress is 413" test "$code" = 413
expect_unchanged "refused progress calls"
http POST "/api/v1/nodes/$MAC_KVM1/progress" -H "Authorization: Bearer $token" --data-binary "$prog"
check "progress with the token" test "$code" = 200
check "nodes shows 40% and the step" bash -c "$LABFORGE nodes --state-dir $state | grep -qE '^kvm1 +$MAC_KVM1 +kvm +installing +40% +\[2/5\] partitioning$'"
http GET "/api/v1/nodes/$MAC_KVM1/manifest" -H "Authorization: Bearer $token"
check "manifest with the token" bash -c "[ $code = 200 ] && grep -q '<node name=\"kvm1\"' '$T_TMP/body'"
http GET "/api/v1/nodes/$MAC_KVM1/manifest"
check "manifest without token is 401" test "$code" = 401
http POST "/api/v1/nodes/$MAC_KVM1/complete" -H "Authorization: Bearer $token"
check "complete" test "$code" = 200
check "kvm1 is deployed at 100%" test "$(node_field kvm1 state)/$(node_field kvm1 progress)" = deployed/100
before=$(nodes_json)
http POST "/api/v1/nodes/$MAC_KVM1/progress" -H "Authorization: Bearer $token" --data-binary "$prog"
check "reused token is refused (403)" bash -c "[ $code = 403 ] && jq -e '.error | contains(\"expired\")' '$T_TMP/body' >/dev/null"
http POST "/api/v1/nodes/$MAC_KVM1/complete" -H "Authorization: Bearer $token"
check "reused token cannot complete again (403)" test "$code" = 403
http POST "/api/v1/nodes/$MAC_KVM1/assignment"
check "deployed node gets no token (409)" test "$code" = 409
expect_unchanged "reused token"

# --- boot scripts of a deployed node: never a reinstall -------------------------------------------
for i in 1 2; do
	http GET "/boot/$MAC_KVM1.ipxe"
	check "deployed node boots its local disk ($i)" bash -c "grep -qx exit '$T_TMP/body' && ! grep -q kernel '$T_TMP/body'"
done

# --- rebuild --------------------------------------------------------------------------------------
expect "rebuild kvm1" 0 -- "$LABFORGE" rebuild kvm1 --state-dir "$state"
check "rebuild says what happens" grep -q "kvm1 ($MAC_KVM1) will be reinstalled as kvm, node id 2" "$T_OUT"
http GET "/boot/$MAC_KVM1.ipxe"
check "after rebuild the script installs again" grep -q "labforge.mode=install" "$T_TMP/body"
http GET "/api/v1/nodes/$MAC_KVM1/assignment"
check "rebuild keeps the identity" jq -e '.node == "kvm1" and .role == "kvm" and .nodeid == 2' "$T_TMP/body"
token2=$(jq -r .token "$T_TMP/body")
check "rebuild gets a new token" test "$token2" != "$token"
http POST "/api/v1/nodes/$MAC_KVM1/complete" -H "Authorization: Bearer $token2" --data-binary '{}'
check "rebuilt node deployed again" test "$(node_field kvm1 state)" = deployed

# --- a failing install --------------------------------------------------------------------------
http POST "/api/v1/nodes/$MAC_STORE/assignment"
tstore=$(jq -r .token "$T_TMP/body")
log=$(for i in $(seq 1 130); do echo "installer line $i"; done; printf 'colour \033[31mred')
body=$(jq -n --arg log "$log" '{step: "[4/9] creating RAID arrays", message: "mdadm --create /dev/md/fast failed (exit 1)", log: $log}')
http POST "/api/v1/nodes/$MAC_STORE/failed" -H "Authorization: Bearer $tstore" --data-binary "$body"
check "failed is accepted" test "$code" = 200
check "nodes shows why store1 failed" bash -c "$LABFORGE nodes --state-dir $state | grep -qE \"^store1 .* failed +- +failed at '\[4/9\] creating RAID arrays': mdadm --create /dev/md/fast failed\""
expect "logs store1" 0 -- "$LABFORGE" logs store1 --state-dir "$state"
check "logs show step, reason and log tail" bash -c "grep -q '^failed at: \[4/9\] creating RAID arrays' '$T_OUT' && grep -q '^reason: mdadm --create' '$T_OUT' && grep -qx 'installer line 130' '$T_OUT' && grep -qx 'installer line 32' '$T_OUT' && ! grep -qx 'installer line 31' '$T_OUT'"
check "control characters of the log never reach the terminal" bash -c "grep -qF 'colour ?[31mred' '$T_OUT' && ! grep -q \$'\\033' '$T_OUT'"
http POST "/api/v1/nodes/$MAC_STORE/progress" -H "Authorization: Bearer $tstore" --data-binary "$prog"
check "token expired at failure (403)" test "$code" = 403
http GET "/boot/$MAC_STORE.ipxe"
check "failed node is not reinstalled by a boot" bash -c "grep -q 'failed at: \[4/9\]' '$T_TMP/body' && grep -qx exit '$T_TMP/body' && ! grep -q kernel '$T_TMP/body'"

# --- admin verbs: bad input changes nothing -------------------------------------------------------
before=$(nodes_json)
expect "assign a manifest MAC" 2 "is listed in the manifest as kvm2" -- "$LABFORGE" assign "$MAC_KVM2" kvm x --state-dir "$state"
expect "assign: bad role" 2 "'web' is not a role" -- "$LABFORGE" assign "$MAC_NEW" web pc9 --state-dir "$state"
expect "assign: bad MAC" 2 "is not a MAC address" -- "$LABFORGE" assign 52:54:00 kvm pc9 --state-dir "$state"
expect "assign: name taken" 2 "node name kvm2 is already used" -- "$LABFORGE" assign "$MAC_NEW" kvm kvm2 --state-dir "$state"
expect "assign: missing argument" 2 "expected MAC ROLE NAME" -- "$LABFORGE" assign "$MAC_NEW" kvm --state-dir "$state"
expect "rebuild unknown node" 2 "no node is called 'nosuch'" -- "$LABFORGE" rebuild nosuch --state-dir "$state"
expect "rebuild a ready node" 2 "is ready already" -- "$LABFORGE" rebuild kvm2 --state-dir "$state"
expect "forget a manifest node" 2 "is listed in the manifest" -- "$LABFORGE" forget "$MAC_KVM2" --state-dir "$state"
expect "logs of unknown node" 2 "no node is called" -- "$LABFORGE" logs nosuch --state-dir "$state"
expect "nodes: bad format" 2 "--format must be table or json" -- "$LABFORGE" nodes --format xml --state-dir "$state"
expect_unchanged "refused admin requests"

expect "assign the discovered PC" 0 -- "$LABFORGE" assign "$MAC_NEW" kvm pc9 --state-dir "$state"
check "assign prints the node id" grep -q "pc9 ($MAC_NEW) assigned as kvm, node id 1025" "$T_OUT"
before=$(nodes_json)
expect "assign the same MAC twice" 2 "$MAC_NEW is already assigned" -- "$LABFORGE" assign "$MAC_NEW" kvm pc10 --state-dir "$state"
expect_unchanged "MAC assigned twice"
http GET "/boot/$MAC_NEW.ipxe"
check "assigned PC gets the install script" grep -q "labforge.mode=install" "$T_TMP/body"
http POST "/api/v1/nodes/$MAC_NEW/assignment"
tnew=$(jq -r .token "$T_TMP/body")
http GET "/api/v1/nodes/$MAC_NEW/manifest" -H "Authorization: Bearer $tnew"
check "served manifest holds the assigned node" grep -q "<node name=\"pc9\" role=\"kvm\" mac=\"$MAC_NEW\"/>" "$T_TMP/body"
check "served manifest is valid" bash -c "cp '$T_TMP/body' '$T_TMP/served.xml' && '$LABFORGE' validate '$T_TMP/served.xml' >/dev/null"
http GET "/boot/$MAC_NEW.ipxe"
check "PXE boot during install starts over" bash -c "grep -q labforge.mode=install '$T_TMP/body' && [ \"\$('$LABFORGE' nodes --state-dir '$state' --format json | jq -r '.nodes[] | select(.name == \"pc9\") | .token')\" = revoked ]"
http POST "/api/v1/nodes/$MAC_NEW/progress" -H "Authorization: Bearer $tnew" --data-binary "$prog"
check "revoked token is refused" test "$code" = 403

# --- images -------------------------------------------------------------------------------------
http GET /images/kvm.tar.zst
check "image download is byte-identical" cmp -s "$T_TMP/body" "$images/kvm.tar.zst"
http GET /images/kvm.tar.zst -H 'Range: bytes=1000-1999'
check "range request is 206 with the right bytes" bash -c "[ $code = 206 ] && cmp -s '$T_TMP/body' <(tail -c +1001 '$images/kvm.tar.zst' | head -c 1000)"
code=$(curl -s -m 10 -o /dev/null -D "$T_TMP/headers" -w '%{http_code}' -H 'Range: bytes=2999000-' "$base/images/kvm.tar.zst")
check "open-ended range has Content-Range" bash -c "[ $code = 206 ] && grep -qi '^Content-Range: bytes 2999000-2999999/3000000' '$T_TMP/headers'"
http GET /images/kvm.tar.zst -H 'Range: bytes=-10'
check "suffix range" bash -c "[ $code = 206 ] && cmp -s '$T_TMP/body' <(tail -c 10 '$images/kvm.tar.zst')"
http GET /images/kvm.tar.zst -H 'Range: bytes=3000000-'
check "unsatisfiable range is 416" test "$code" = 416
http GET /images/../outside --path-as-is
check "path traversal is refused" bash -c "[ $code = 404 ] && ! grep -q secret '$T_TMP/body'"
http GET /images/..%2Foutside
check "encoded traversal is refused" bash -c "[ $code = 404 ] && ! grep -q secret '$T_TMP/body'"
http GET /images/nosuch
check "missing image is 404" test "$code" = 404
http HEAD /images/vmlinuz -I
check "HEAD of an image" test "$code" = 200

# --- restart keeps the state; a manifest dropping a deployed node is refused -----------------------
before=$(nodes_json)
stop_serve
check "SIGTERM stops serve cleanly" test "$serve_rc" = 0
check "socket removed on exit" test ! -e "$state/labforge.sock"
fixed_port=$port
start_serve "$T_TMP/lab.xml" || fail "serve restarts"
expect_unchanged "restart"
http POST "/api/v1/nodes/$MAC_KVM1/progress" -H "Authorization: Bearer $token2" --data-binary "$prog"
check "tokens stay expired after a restart" test "$code" = 403
stop_serve
write_manifest "$T_TMP/drop.xml" "$port" "store1 storage $MAC_STORE" "kvm2 kvm $MAC_KVM2"
expect "manifest dropping deployed kvm1 is refused" 2 "node kvm1 ($MAC_KVM1) is deployed, but the manifest no longer lists it" -- \
	"$LABFORGE" serve --manifest "$T_TMP/drop.xml" --state-dir "$state" --images "$images" --listen 127.0.0.1 --no-dhcp
start_serve "$T_TMP/lab.xml" || fail "serve restarts after the refusal"
expect_unchanged "refused manifest"

# Reload with SIGHUP: a dropped deployed node is refused there too, the old manifest stays.
cp "$T_TMP/lab.xml" "$T_TMP/lab.xml.orig"
cp "$T_TMP/drop.xml" "$T_TMP/lab.xml"
kill -HUP "$serve_pid"
for _ in $(seq 50); do grep -q "keeping the manifest" "$serve_log" && break; sleep 0.1; done
check "SIGHUP with a bad change keeps the old manifest" grep -q "keeping the manifest loaded before" "$serve_log"
expect_unchanged "refused reload"
cp "$T_TMP/lab.xml.orig" "$T_TMP/lab.xml"

expect "forget the assigned PC" 0 -- "$LABFORGE" forget "$MAC_NEW" --state-dir "$state"
check "forgotten PC is gone" test -z "$(node_field $MAC_NEW state)"
http GET "/boot/$MAC_NEW.ipxe"
check "forgotten PC is discovered again" grep -q labforge.mode=discover "$T_TMP/body"
stop_serve
check "serve stopped cleanly at the end" test "$serve_rc" = 0
finish
