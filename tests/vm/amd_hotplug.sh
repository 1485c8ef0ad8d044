#!/bin/sh
# PCI hotplug into a group of IVMD sharers on QEMU's amd-iommu: the
# hotplug rule of Documentation/iommu-rmrr.rst on AMD.  AMD_HOTPLUG names
# the device the workbench left out at boot ("b=0000:01:00.0"); printing
# "WB-QMP device_add b" makes the runner hot-add it into its root port,
# "WB-QMP device_del b" removes it.  It shares a unity range with
# AMD_HOTPLUG_SHARER (on bus 0, so its DMA is translated through its own
# entry) and has one of its own.  Expected ranges come from the IVRS
# bytes (ivrs_lib.sh), groups from sysfs, the data oracle from
# edu_dma.
. ./ivrs_lib.sh

echo "TAP version 13"
echo "1..3"
if [ -z "$AMD_HOTPLUG" ] || [ -z "$AMD_HOTPLUG_SHARER" ]; then
	for t in sharer_joins_its_group removal_keeps_the_sharers_range \
		 into_owned_group_kept_out; do
		skip $t "no hot-plugged device in this scenario (AMD_HOTPLUG)"
	done
	exit 0
fi
NAME=${AMD_HOTPLUG%%=*}
B=${AMD_HOTPLUG#*=}
A=$AMD_HOTPLUG_SHARER

# $1 present (1) or gone (0) within 30 s.
qmp() {
	echo "# WB-QMP $1 $NAME"
	want=$([ "$1" = device_add ] && echo 1 || echo 0)
	i=0
	while [ $i -lt 300 ]; do
		have=0
		[ -e /sys/bus/pci/devices/$B ] && have=1
		[ $have = $want ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# Until $B's probe has given it a group (3 s).
wait_group() {
	i=0
	while [ ! -e /sys/bus/pci/devices/$B/iommu_group ] && [ $i -lt 30 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
# Is each range of the table for $1 a direct region of group $2?
ranges_reported() {
	bad=0
	while read -r start end; do
		found=0
		while read -r rs re type; do
			[ "$type" = direct ] && [ $((rs)) -le "$start" ] && [ $((re)) -ge "$end" ] && found=1
		done < /sys/kernel/iommu_groups/$2/reserved_regions
		[ $found = 1 ] || { echo "# [$(hex "$start") - $(hex "$end")] of $1 is not a direct region of group $2"; bad=1; }
	done <<EOF_R
$(ranges_of "$1")
EOF_R
	return $bad
}
copy_shared() {	# a copies the range it shares with b, by DMA
	./edu_dma "$A" "$(hex "$(ranges_of "$A" | head -1 | cut -d' ' -f1)")"
}

SHARED=$(ranges_of "$A" | head -1)
OWN=$(ranges_of "$B" | grep -v "^$SHARED\$" | head -1)
echo "# $A has [$SHARED], $B shares it and has [$OWN] (IVRS, decimal)"

# 1. b, hot-added while the group is free, joins a's group, with its
# ranges among the group's direct regions, a log line naming the range
# and a, and one AMD-Vi identity-map line per range.
if [ -e /sys/bus/pci/devices/$B ]; then
	not_ok sharer_joins_its_group
	echo "# $B is present before the hot-add"
elif ! qmp device_add; then
	not_ok sharer_joins_its_group
	echo "# $B did not appear within 30 s"
else
	wait_group
	bad=0
	ga=$(group_of "$A") gb=$(group_of "$B")
	[ "$ga" = "$gb" ] || { echo "# $A in group $ga, $B in group $gb"; bad=1; }
	[ "$gb" != none ] && { ranges_reported "$B" "$gb" || bad=1; }
	dmesg | grep -q "pci $B: shares direct-mapped range \[$(hex "${SHARED% *}") - $(hex "${SHARED#* }")\] with $A, joining IOMMU group $ga" ||
		{ echo "# no join line for $B"; bad=1; }
	for r in "$SHARED" "$OWN"; do
		dmesg | grep -q "pci $B: AMD-Vi: Setting identity map \[$(hex "${r% *}") - $(hex "${r#* }")\]" ||
			{ echo "# no identity-map line for $B [$r]"; bad=1; }
	done
	[ $bad = 0 ] && ok sharer_joins_its_group || not_ok sharer_joins_its_group
fi

# 2. Removing b leaves a's group and a's copy of the shared range intact.
if [ ! -e /sys/bus/pci/devices/$B ]; then
	skip removal_keeps_the_sharers_range "$B is not present"
elif ! qmp device_del; then
	not_ok removal_keeps_the_sharers_range
	echo "# $B did not go within 30 s"
else
	out=$(copy_shared 2>&1)
	rc=$?
	echo "$out" | sed 's/^/# /'
	[ $rc = 0 ] && ranges_reported "$A" "$(group_of "$A")" &&
		ok removal_keeps_the_sharers_range || not_ok removal_keeps_the_sharers_range
fi

# 3. (preserve) While VFIO owns a's group, a hot-added b joins the group
# but not the owner's domain (it lacks b's own range): the log says so,
# no host driver can bind to b, and a keeps copying the shared range.
# After the release b binds.
if ! grep -q "iommu.direct_assign=preserve" /proc/cmdline; then
	skip into_owned_group_kept_out "policy is deny"
	exit 0
fi
if [ -e /sys/bus/pci/devices/$B ]; then
	not_ok into_owned_group_kept_out
	echo "# $B still present"
	exit 0
fi
ga=$(group_of "$A")
echo vfio-pci > /sys/bus/pci/devices/$A/driver_override
echo "$A" > /sys/bus/pci/drivers_probe
rm -f /tmp/release
./vfio_claim "$ga" --hold /tmp/release > /tmp/held &
holder=$!
while ! grep -q "claimed\|vfio_claim:" /tmp/held && kill -0 $holder 2>/dev/null; do
	sleep 0.1
done
bad=0
grep -q claimed /tmp/held || { echo "# $(cat /tmp/held)"; bad=1; }
if ! qmp device_add; then
	echo "# $B did not appear within 30 s"
	bad=1
else
	wait_group
	gb=$(group_of "$B")
	[ "$gb" = "$ga" ] || { echo "# $B in group $gb, not the owned group $ga"; bad=1; }
	dmesg | grep -q "pci $B: joins IOMMU group $ga while it has a DMA owner whose domain lacks this device's firmware 1:1 mapping \[$(hex "${OWN% *}") - $(hex "${OWN#* }")\]" ||
		{ echo "# no kept-out line for $B"; bad=1; }
	echo uio_pci_generic > /sys/bus/pci/devices/$B/driver_override
	echo "$B" > /sys/bus/pci/drivers_probe 2>/dev/null
	[ -e /sys/bus/pci/devices/$B/driver ] &&
		{ echo "# $(basename "$(readlink /sys/bus/pci/devices/$B/driver)") bound to $B while the group is owned"; bad=1; }
	out=$(copy_shared 2>&1) || { echo "# $out"; bad=1; }
fi
touch /tmp/release
wait $holder
echo "# $(tr '\n' ' ' < /tmp/held)"
if [ -e /sys/bus/pci/devices/$B ]; then
	echo "$B" > /sys/bus/pci/drivers_probe 2>/dev/null
	[ -e /sys/bus/pci/devices/$B/driver ] || { echo "# $B cannot bind after the release"; bad=1; }
	[ -e /sys/bus/pci/devices/$B/driver ] && echo "$B" > /sys/bus/pci/devices/$B/driver/unbind
	echo > /sys/bus/pci/devices/$B/driver_override
	qmp device_del || { echo "# $B did not go"; bad=1; }
fi
echo "$A" > /sys/bus/pci/devices/$A/driver/unbind
echo > /sys/bus/pci/devices/$A/driver_override
copy_shared > /dev/null || { echo "# $A lost the shared range"; bad=1; }
[ $bad = 0 ] && ok into_owned_group_kept_out || not_ok into_owned_group_kept_out
