#!/bin/sh
# A real VMM as the VFIO client: Debian's own qemu-system-x86_64, run from
# the host's root file system (shared read only over 9p, tag "hostroot"),
# takes the preserved group of $RMRR_TEST_DEVICE with -device vfio-pci.
# The L2 guest stays paused (-S): what matters is that QEMU's VFIO memory
# listener maps guest RAM and realizes the devices.
#
#   1. the host's QEMU runs here, unmodified;
#   2. guest RAM over the RMRR: QEMU fails with its vfio_dma_map(...) = -22
#      error, and the host keeps the RMRR mapped 1:1, with no DMAR fault;
#   3. guest RAM laid out as rmrr-report advises (max-ram-below-4g under
#      the lowest RMRR, the rest above 4 GiB): QEMU starts, every endpoint
#      of the group as sysfs lists it is realized, and while it runs the
#      group's page table maps guest RAM below and above 4 GiB and the
#      RMRR 1:1;
#   4. after QEMU quits the devices are back with the RMRR mapped 1:1.
#
# Needs the scenario variant's share_host = true and
# iommu.direct_assign=preserve; rmrr-report beside this script.

DEV=${RMRR_TEST_DEVICE:?RMRR_TEST_DEVICE names the device to assign}
HOST=/host
QEMU=/usr/bin/qemu-system-x86_64
LOG=/tmp/l2
WAIT=240		# seconds for the L2 QEMU to come up under TCG in TCG
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n $1"; }
check() { name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
note() { sed 's/^/# /'; }
ESC=$(printf '\033')
# QEMU's log without the monitor's echo of what we typed (info pci, quit)
# and without the devices' details.
note_l2() {
	tr -d '\r' < $LOG.out | sed "s/${ESC}\[[0-9]*[A-Za-z]//g; s/^(qemu) //" |
		grep -v '^[infopcqutvers ]*$' |
		grep -v '^ *\(PCI subsystem\|IRQ \|BAR[0-9]\|id "\|Bus \)' | note
}

echo "TAP version 13"
echo "1..8"

# --- the host's root file system, with this kernel's /proc, /sys, /dev
share_host() {
	mkdir -p $HOST &&
	mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose hostroot $HOST &&
	mount -t proc proc $HOST/proc &&
	mount -t sysfs sysfs $HOST/sys &&
	mount -t devtmpfs devtmpfs $HOST/dev &&
	mount -t tmpfs tmpfs $HOST/tmp &&
	mount -t tmpfs tmpfs $HOST/run
}

host_qemu_runs() {
	version=$(chroot $HOST $QEMU --version 2>&1)
	echo "$version" | note
	echo "$version" | grep -q "^QEMU emulator version"
}

if ! share_host || ! host_qemu_runs; then
	not_ok host_qemu_runs
	echo "Bail out! the host's QEMU does not run in the guest"
	exit 1
fi
ok host_qemu_runs

# --- the group, bound to vfio-pci as a VMM's host would have it
GROUP=$(basename "$(readlink /sys/bus/pci/devices/$DEV/iommu_group)")
MEMBERS=$(ls /sys/kernel/iommu_groups/$GROUP/devices)
for d in $MEMBERS; do
	echo vfio-pci > /sys/bus/pci/devices/$d/driver_override
	echo "$d" > /sys/bus/pci/drivers_probe
done
# The lowest non-relaxable RMRR of the group: the first "direct" line.
RMRR=$(awk '$3 == "direct" { print $1; exit }' /sys/kernel/iommu_groups/$GROUP/reserved_regions)
RMRR_MIB=$((RMRR >> 20))
RMRR_PFN=$(printf '%013x' $((RMRR >> 12)))
echo "# group $GROUP: $(echo $MEMBERS), RMRR at $RMRR, policy $(cat /sys/kernel/iommu_groups/$GROUP/direct_assign)"

# The QEMU line rmrr-report gives for the device, "-m SIZE" still open.
ADVICE=$(./rmrr-report "$DEV" | sed -n 's/^ *\(qemu-system-x86_64 .*\)$/\1/p' | head -1)
echo "# rmrr-report: $ADVICE"
BELOW=$(echo "$ADVICE" | sed -n 's/.*max-ram-below-4g=\([0-9]*\)\([MG]\).*/\1 \2/p')
set -- $BELOW
case "$2" in G) BELOW_MIB=$(($1 * 1024)) ;; M) BELOW_MIB=$1 ;; *) BELOW_MIB=0 ;; esac
DEVICES=$(echo "$ADVICE" | grep -o -- '-device vfio-pci,host=[0-9a-f:.]*' | tr '\n' ' ')

# How many functions the L2 guest must show, from sysfs and not from the
# advice (an advice that left a member out would otherwise agree with
# itself): every endpoint of the group (header type 0; a bridge is never
# assigned), and the vendor:device IDs they show in "info pci".
NDEV=0
IDS=
for d in $MEMBERS; do
	hdr=$(od -A n -t u1 -j 14 -N 1 /sys/bus/pci/devices/$d/config)
	[ $((hdr & 0x7f)) -eq 0 ] || continue
	NDEV=$((NDEV + 1))
	id=$(printf '%04x:%04x' "$(cat /sys/bus/pci/devices/$d/vendor)" \
		"$(cat /sys/bus/pci/devices/$d/device)")
	case " $IDS " in *" $id "*) ;; *) IDS="$IDS $id" ;; esac
done
echo "# group $GROUP: $NDEV endpoint(s) in sysfs,$IDS"

# Functions of the group the L2 guest's "info pci" lists.
realized() {
	nr=0
	for id in $IDS; do
		c=$(grep -c "PCI device $id" $LOG.out 2>/dev/null)
		nr=$((nr + ${c:-0}))
	done
	echo $nr
}

# 1:1 at pfn $1 in $DEV's current page table (debugfs dump: "PFN | ... PTE",
# one line per leaf; the DL360p's RMRRs are not 2 MiB aligned, so their
# first page is a 4 KiB leaf of its own).
maps_identity() {
	pte=$(grep "^0x$1 |" /sys/kernel/debug/iommu/intel/$DEV/domain_translation_struct |
	      awk '{ print $NF }')
	[ -n "$pte" ] && [ $(((pte >> 12) & 0xffffffffff)) -eq $((0x$1)) ]
}

# Something at IOVA pfn $1 in $DEV's current page table.
maps_iova() {
	grep -q "^0x$1 |" /sys/kernel/debug/iommu/intel/$DEV/domain_translation_struct
}

no_dmar_fault() {
	! dmesg | grep -q "DMAR: \[DMA"
}

# Start the L2 QEMU with memory options $1, the monitor on a FIFO.  Sets
# QPID; the monitor is fd 3.
start_l2() {
	rm -f $LOG.mon $LOG.out
	mkfifo $LOG.mon
	# shellcheck disable=SC2086
	chroot $HOST $QEMU $1 -accel tcg,tb-size=64 -nodefaults -no-user-config \
		-display none -S -monitor stdio $DEVICES < $LOG.mon > $LOG.out 2>&1 &
	QPID=$!
	exec 3> $LOG.mon
}

# Wait until the monitor has answered "info pci" or QEMU has exited.  The
# monitor runs its commands in order, so the answer to "info version"
# ("7.2.22Debian 1:7.2+dfsg-...": version and package, no space) means the one to "info pci" is complete.
wait_l2() {
	printf 'info pci\ninfo version\n' >&3
	i=0
	while [ $i -lt $((WAIT * 2)) ]; do
		kill -0 $QPID 2>/dev/null || return 1
		grep -q '^[0-9][0-9]*\.[0-9][0-9]*\.[0-9]' $LOG.out && return 0
		sleep 0.5
		i=$((i + 1))
	done
	return 1
}

stop_l2() {
	echo quit >&3 2>/dev/null
	exec 3>&-
	wait $QPID
}

rmrr_kept() { maps_identity "$RMRR_PFN" && no_dmar_fault; }
# IOVA 0 and 4 GiB: the L2 guest's RAM below and above the hole.
owner_maps_all() {
	[ "$up" -eq 1 ] && maps_iova 0000000000000 && maps_iova 0000000100000 &&
		maps_identity "$RMRR_PFN"
}
overlap_refused() {
	[ "$rc" -ne 0 ] && grep -q 'vfio_dma_map(.*) = -22 (Invalid argument)' $LOG.out
}

# --- guest RAM over the RMRR: the administrator forgot max-ram-below-4g,
# and q35 puts all of -m below 4 GiB, over the lowest RMRR
OVERLAP="-machine q35 -m $((RMRR_MIB + 64))M"
echo "# overlapping: $OVERLAP $DEVICES"
start_l2 "$OVERLAP"
if wait_l2; then stop_l2; rc=0; else exec 3>&-; wait $QPID; rc=$?; fi
note_l2
check overlapping_ram_fails_with_vfio_dma_map_einval overlap_refused
check overlap_leaves_rmrr_mapped_and_no_fault rmrr_kept

# --- guest RAM as rmrr-report advises: below the RMRR, the rest above 4 GiB
GOOD="-machine q35,max-ram-below-4g=${BELOW_MIB}M -m $((BELOW_MIB + 64))M"
echo "# advised: $GOOD $DEVICES"
up=0
rc=1
if [ "$BELOW_MIB" -gt 0 ] && [ -n "$DEVICES" ]; then
	start_l2 "$GOOD"
	wait_l2 && up=1
else
	echo "# rmrr-report gave no layout for $DEV"
fi
check advised_layout_starts [ $up -eq 1 ]
check every_function_of_the_group_realized \
	[ "$NDEV" -gt 0 -a "$(realized)" -eq "$NDEV" ]
check owner_maps_guest_ram_and_rmrr owner_maps_all
if [ $up -eq 1 ]; then
	stop_l2
	rc=$?
elif [ -n "${QPID:-}" ]; then
	exec 3>&-
	kill $QPID 2>/dev/null
	wait $QPID
fi
note_l2
check l2_quits_cleanly [ $rc -eq 0 ]
check host_keeps_rmrr_after_l2 rmrr_kept
exit $failed
