# Shown by `make demo`: what the kernel makes of the scenario's RMRRs.
section() { printf '\n=== %s\n' "$1"; }

section "Firmware RMRRs and identity maps (kernel log)"
dmesg | grep -E "DMAR: (RMRR|Setting identity|\[Firmware Bug\])|Table Upgrade|rmrr" || echo "(none)"

section "IOMMU groups and their reserved regions"
for g in $(ls /sys/kernel/iommu_groups | sort -n); do
	devs=$(ls /sys/kernel/iommu_groups/$g/devices | tr '\n' ' ')
	echo "group $g: $devs"
	grep -v " msi$" /sys/kernel/iommu_groups/$g/reserved_regions | sed 's/^/    /'
done

section "VFIO: claiming ${RMRR_TEST_DEVICE:-an RMRR device}'s group (VFIO_GROUP_SET_CONTAINER)"
./rmrr_vfio -f vfio_rmrr 2>&1 | grep -E "kernel:|^ok|^not ok|SKIP" | sed 's/^# *//'
dmesg | grep -E "1:1 IOMMU mapping" | tail -1
