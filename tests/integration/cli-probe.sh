#!/usr/bin/env bash
# labforge-install probe on captured sysfs trees: JSON and text output, usage errors (exit 2),
# and a probe that fails (exit 1) with the path and a hint.
. "$(dirname "$0")/../lib.sh"
fx=$LF_TOP/tests/fixtures/probe

for m in nvme-sata desktop; do
	expect "probe $m json" 0 -- "$LABFORGE_INSTALL" probe --sysfs-root "$fx/$m/sys" \
		--dev-root "$fx/$m/dev"
	if cmp -s "$T_OUT" "$fx/$m/expected.json"; then pass "$m json matches golden"
	else fail "$m json matches golden" "$(diff "$fx/$m/expected.json" "$T_OUT" | head -20)"; fi
	expect "probe $m text" 0 -- "$LABFORGE_INSTALL" probe --sysfs-root "$fx/$m/sys" \
		--dev-root "$fx/$m/dev" --format text
	if cmp -s "$T_OUT" "$fx/$m/expected.txt"; then pass "$m text matches golden"
	else fail "$m text matches golden" "$(diff "$fx/$m/expected.txt" "$T_OUT" | head -20)"; fi
done

# --proc-root: with an empty mounts file the USB stick is no longer the boot medium.
mkdir -p "$T_TMP/proc" && : >"$T_TMP/proc/mounts"
cp "$fx/desktop/proc/meminfo" "$T_TMP/proc/"
expect "probe --proc-root" 0 -- "$LABFORGE_INSTALL" probe --sysfs-root "$fx/desktop/sys" \
	--dev-root "$fx/desktop/dev" --proc-root "$T_TMP/proc"
if grep -q boot_medium "$T_OUT"; then fail "--proc-root is used" "$(cat "$T_OUT")"
else pass "--proc-root is used"; fi

expect "probe --help" 0 -- "$LABFORGE_INSTALL" probe --help
expect "bad format" 2 "--format must be json or text, not 'yaml'" -- \
	"$LABFORGE_INSTALL" probe --format yaml
expect "unknown option" 2 "unknown option '--root'" -- "$LABFORGE_INSTALL" probe --root /sys
expect "missing value" 2 "option '--dev-root' needs a value" -- \
	"$LABFORGE_INSTALL" probe --dev-root
expect "stray argument" 2 "unexpected argument 'sda'" -- "$LABFORGE_INSTALL" probe sda
expect "bad usage prints nothing" 2 -- "$LABFORGE_INSTALL" probe --format yaml
if [ -s "$T_OUT" ]; then fail "no stdout on bad usage" "stdout: $(cat "$T_OUT")"
else pass "no stdout on bad usage"; fi

expect "missing sysfs root" 1 "$T_TMP/none: not a sysfs tree" -- \
	"$LABFORGE_INSTALL" probe --sysfs-root "$T_TMP/none"
expect "missing disk node" 1 "$T_TMP/dev/mmcblk0: cannot open to read its signatures" -- \
	"$LABFORGE_INSTALL" probe --sysfs-root "$fx/desktop/sys" --dev-root "$T_TMP/dev"
finish
