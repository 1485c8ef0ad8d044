# Shown by `make demo`: what the kernel makes of the scenario's RMRRs.
section() { printf '\n=== %s\n' "$1"; }
dev=${RMRR_TEST_DEVICE:-0000:03:00.0}
group=$(basename "$(readlink /sys/bus/pci/devices/$dev/iommu_group)")

section "Firmware RMRRs and identity maps (kernel log)"
dmesg | grep -E "DMAR: (RMRR|Setting identity|\[Firmware Bug\])|Table Upgrade|joining IOMMU group" || echo "(none)"

section "IOMMU groups, their reserved regions and direct_assign policy"
for g in $(ls /sys/kernel/iommu_groups | sort -n); do
	devs=$(ls /sys/kernel/iommu_groups/$g/devices | tr '\n' ' ')
	echo "group $g ($(cat /sys/kernel/iommu_groups/$g/direct_assign)): $devs"
	grep -v " msi$" /sys/kernel/iommu_groups/$g/reserved_regions | sed 's/^/    /'
done

section "VFIO: claiming $dev's group $group under the default policy (deny)"
./rmrr_vfio -t set_container_denied 2>&1 | grep -E "^ok|^not ok|SKIP" | sed 's/^# *//'
dmesg | grep -E "1:1 IOMMU mapping" | tail -1

section "VFIO: echo preserve > /sys/kernel/iommu_groups/$group/direct_assign, then assign $dev"
echo preserve > /sys/kernel/iommu_groups/$group/direct_assign
./rmrr_vfio -t dma_reads_rmrr -t map_refused_at_every_boundary 2>&1 | grep -E "^ok|^not ok|SKIP" | sed 's/^# *//'
dmesg | grep -E "vfio: keeping [0-9]+ firmware 1:1 mapping" | tail -1
dmesg | grep -c "DMAR: \[DMA" | sed 's/^/DMAR faults while owned: /'
