#!/bin/sh
# Kernel lockdown refuses iommu.direct_assign=preserve: a preserved group
# gives its owner DMA to firmware memory, which lockdown keeps from
# userspace as it keeps /dev/mem.  The scenario boots with preserve;
# lockdown is raised here, at run time, because at boot it would also
# refuse the initrd's DMAR table.  Lockdown cannot be lowered again, so
# this test has a boot of its own (variant "lockdown").
echo "TAP version 13"
echo "1..4"
n=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n $1"; }
G=/sys/kernel/iommu_groups
MSG="assigning devices with their firmware 1:1 mappings is restricted"

group=
for f in $G/*/direct_assign; do
	[ -e "$f" ] || continue
	[ "$(cat "$f")" = preserve ] || continue
	group=$(basename "$(dirname "$f")")
	break
done
if [ -z "$group" ]; then
	echo "Bail out! no group reads preserve: the variant must boot with it"
	exit 0
fi
members=$(ls $G/$group/devices)
for m in $members; do
	echo vfio-pci > /sys/bus/pci/devices/$m/driver_override
	[ -e /sys/bus/pci/devices/$m/driver ] &&
		echo "$m" > /sys/bus/pci/devices/$m/driver/unbind
	echo "$m" > /sys/bus/pci/drivers_probe
done
echo "# group $group: $(echo $members)"

out=$(./vfio_claim "$group")
echo "# before lockdown: $out"
case $out in
*claimed) ok claimed_before_lockdown ;;
*) not_ok claimed_before_lockdown ;;
esac

mkdir -p /sys/kernel/security
mount -t securityfs none /sys/kernel/security 2>/dev/null
echo integrity > /sys/kernel/security/lockdown
echo "# lockdown: $(cat /sys/kernel/security/lockdown)"

before=$(dmesg | grep -c "$MSG")
out=$(./vfio_claim "$group")
rc=$?
after=$(dmesg | grep -c "$MSG")
echo "# under lockdown: $out"
if [ $rc = 1 ] && echo "$out" | grep -q "VFIO_GROUP_SET_CONTAINER: EPERM" &&
   [ "$after" -gt "$before" ]; then
	ok claim_refused_under_lockdown
else
	echo "# rc $rc, lockdown lines $before -> $after"
	not_ok claim_refused_under_lockdown
fi

err=$( (echo preserve > $G/$group/direct_assign) 2>&1)
policy=$(cat $G/$group/direct_assign)
echo "# write preserve: ${err:-accepted}; reads $policy"
if echo "$err" | grep -q "Operation not permitted" && [ "$policy" = preserve ]; then
	ok preserve_write_refused_under_lockdown
else
	not_ok preserve_write_refused_under_lockdown
fi

# Leaving preserve stays possible; preserve cannot come back.
echo deny > $G/$group/direct_assign
err=$( (echo preserve > $G/$group/direct_assign) 2>&1)
policy=$(cat $G/$group/direct_assign)
out=$(./vfio_claim "$group")
echo "# after deny: $out; preserve again: ${err:-accepted}; reads $policy"
if [ "$policy" = deny ] && echo "$out" | grep -q "VFIO_GROUP_SET_CONTAINER: EINVAL"; then
	ok deny_still_written_and_refuses
else
	not_ok deny_still_written_and_refuses
fi
for m in $members; do
	echo "$m" > /sys/bus/pci/devices/$m/driver/unbind
	echo > /sys/bus/pci/devices/$m/driver_override
done
