#!/usr/bin/env bash
# labforge image pack: the printed SHA-256 is the file's, two runs (two processes) give the same
# bytes, SOURCE_DATE_EPOCH clamps times, the archive reads back with GNU tar; bad input exits 2.
. "$(dirname "$0")/../lib.sh"

tree=$T_TMP/tree
mkdir -p "$tree/etc" "$tree/usr/bin"
echo hello >"$tree/etc/motd"
printf '#!/bin/sh\n' >"$tree/usr/bin/tool"
chmod 0755 "$tree/usr/bin/tool"
ln -s ../usr/bin/tool "$tree/etc/tool"
touch -d @1600000000 "$tree/etc/motd"

export SOURCE_DATE_EPOCH=1700000000
expect "pack" 0 -- "$LABFORGE" image pack "$tree" "$T_TMP/a.tar.zst"
sum=$(sha256sum <"$T_TMP/a.tar.zst" | cut -d' ' -f1)
grep -qx "name: a.tar.zst" "$T_OUT" && grep -qx "sha256: $sum" "$T_OUT" &&
	grep -q "^size: $(stat -c %s "$T_TMP/a.tar.zst") " "$T_OUT" &&
	pass "pack: name, size, SHA-256 printed" || fail "pack: name, size, SHA-256" "$(cat "$T_OUT")"

touch "$tree/usr/bin/tool" # a time after SOURCE_DATE_EPOCH: clamped, so no change
expect "pack again, json" 0 -- "$LABFORGE" image pack --format json "$tree" "$T_TMP/b.tar.zst"
cmp -s "$T_TMP/a.tar.zst" "$T_TMP/b.tar.zst" && pass "same bytes from two runs" ||
	fail "same bytes from two runs"
jq -e --arg sum "$sum" '.name == "b.tar.zst" and .sha256 == $sum and .entries == 6' "$T_OUT" \
	>/dev/null && pass "json answer" || fail "json answer" "$(cat "$T_OUT")"

listing=$(tar --zstd -tvf "$T_TMP/a.tar.zst" 2>&1)
[ "$(awk '{ print $6 }' <<<"$listing" | tr '\n' ' ')" = "etc/ etc/motd etc/tool usr/ usr/bin/ usr/bin/tool " ] &&
	pass "sorted entries" || fail "sorted entries" "$listing"
grep -q "0/0 .* 2020-09-13 .* etc/motd" <<<"$listing" &&
	grep -q "2023-11-14 .* usr/bin/tool" <<<"$listing" && pass "numeric owners, clamped times" ||
	fail "numeric owners, clamped times" "$listing"

expect "missing directory" 2 "not a directory" -- "$LABFORGE" image pack "$T_TMP/nosuch" \
	"$T_TMP/c.tar.zst"
[ ! -e "$T_TMP/c.tar.zst" ] && pass "missing directory: nothing written" ||
	fail "missing directory: nothing written"
SOURCE_DATE_EPOCH=yesterday expect "bad SOURCE_DATE_EPOCH" 2 "SOURCE_DATE_EPOCH='yesterday'" -- \
	"$LABFORGE" image pack "$tree" "$T_TMP/c.tar.zst"
expect "bad level" 2 "--zstd-level must be 1..19" -- "$LABFORGE" image pack --zstd-level 30 \
	"$tree" "$T_TMP/c.tar.zst"
expect "unknown command" 2 "unknown 'labforge image' command 'unpack'" -- "$LABFORGE" image unpack
expect "output directory missing" 1 "cannot create" -- "$LABFORGE" image pack "$tree" \
	"$T_TMP/nosuch/c.tar.zst"

# labforge-install extract: the installer's image step alone (verified, then extracted, timed).
sum=$(sha256sum "$T_TMP/a.tar.zst" | cut -d' ' -f1)
mkdir -p "$T_TMP/x"
expect "extract" 0 -- \
	"$LABFORGE_INSTALL" extract --image "$T_TMP/a.tar.zst" --sha256 "$sum" --target "$T_TMP/x"
grep -Eq "^extracted [0-9]+ bytes in 6 entries into $T_TMP/x in [0-9.]+ s: [0-9.]+ MiB/s$" \
	"$T_OUT" && pass "extract: bytes, entries, time and rate printed" ||
	fail "extract: bytes, entries, time and rate printed" "$(cat "$T_OUT")"
diff -r "$tree" "$T_TMP/x" >/dev/null && pass "extract: the tree comes back" ||
	fail "extract: the tree comes back" "$(diff -r "$tree" "$T_TMP/x" 2>&1 | head)"
mkdir -p "$T_TMP/y"
cp "$T_TMP/a.tar.zst" "$T_TMP/bad.tar.zst"
printf 'x' | dd of="$T_TMP/bad.tar.zst" bs=1 seek=100 conv=notrunc status=none
for mode in ram stream; do
	expect "extract, one byte changed ($mode)" 1 "nothing was written to any disk" -- \
		"$LABFORGE_INSTALL" extract --fetch-mode "$mode" --image "$T_TMP/bad.tar.zst" \
		--sha256 "$sum" --target "$T_TMP/y"
	[ -z "$(ls -A "$T_TMP/y")" ] && pass "extract, one byte changed ($mode): nothing written" ||
		fail "extract, one byte changed ($mode): nothing written" "$(ls -A "$T_TMP/y")"
done
expect "extract without --target" 2 "--image, --sha256 and --target are needed" -- \
	"$LABFORGE_INSTALL" extract --image "$T_TMP/a.tar.zst" --sha256 "$sum"
expect "extract, bad fetch mode" 2 "--fetch-mode must be auto, ram or stream" -- \
	"$LABFORGE_INSTALL" extract --fetch-mode fast --image "$T_TMP/a.tar.zst" --sha256 "$sum" \
	--target "$T_TMP/y"

finish
