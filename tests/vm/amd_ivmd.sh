#!/bin/sh
# AMD IVMD unity ranges on QEMU's amd-iommu, checked against the IVRS
# table's own bytes (decoded here, not by the kernel or the generator):
# reserved regions, one boot line per device and range, grouping of
# devices that share a range, the direct_assign policy, and the DMA an
# edu device really does through its domain (edu_dma: QEMU 7.2's
# amd-iommu logs no fault event, so the data read is the oracle).
. ./ivrs_lib.sh

echo "TAP version 13"
echo "1..14"

# The boot's log, before the claim loops below fill the ring buffer.
dmesg > /tmp/boot.dmesg

# The devices iommu.direct_share_apart= names, in sysfs' form.
APART=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^iommu.direct_share_apart=//p' |
	tr ',' '\n' | sed 's/^\([0-9a-f]*:[0-9a-f]*\.[0-7]\)$/0000:\1/')
is_apart() { echo "$APART" | grep -qx "$1"; }

# Does device $1 share a range of the table with device $2?
shares_range() {
	ranges_of "$1" > /tmp/ra
	ranges_of "$2" > /tmp/rb
	while read -r s1 e1; do
		while read -r s2 e2; do
			[ "$s1" -le "$e2" ] && [ "$s2" -le "$e1" ] && return 0
		done < /tmp/rb
	done < /tmp/ra
	return 1
}

# Covered devices the IOMMU translates (the IOMMU's own function, 00:01.0
# on QEMU, is in the table's ranges but has no group).
covered_devices() {
	for d in /sys/bus/pci/devices/*; do
		[ -e "$d/iommu_group" ] || continue
		d=${d##*/}
		[ -n "$(ranges_of "$d")" ] && echo "$d"
	done
}

# 8. A group with no covered device has no direct region.
no_direct_regions_without_ivmd() {
	bad=0
	for d in /sys/bus/pci/devices/*; do
		[ -e "$d/iommu_group" ] || continue
		d=${d##*/}
		g=$(group_of "$d")
		for c in $COVERED; do
			[ "$(group_of "$c")" = "$g" ] && continue 2
		done
		if grep -q direct /sys/kernel/iommu_groups/$g/reserved_regions; then
			echo "# group $g of $d has a direct region and no covered device"
			bad=1
		fi
	done
	[ $bad = 0 ] && ok no_direct_regions_without_ivmd || not_ok no_direct_regions_without_ivmd
}

edus() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = "0x1234:0x11e8" ] && echo "${d##*/}"
	done
}

if [ ! -e "$IVRS" ] || ! cmp -s "$IVRS" /etc/wb/ivrs.aml; then
	echo "# $IVRS differs from /etc/wb/ivrs.aml (or is missing)"
	dmesg | grep -i "table upgrade" | sed 's/^/# /'
	not_ok ivrs_table_is_the_scenarios
else
	ok ivrs_table_is_the_scenarios
fi

ivmds | sed 's/^/# IVMD devid first, last, range: /'
COVERED=$(covered_devices)
if [ -z "$COVERED" ]; then
	for t in unity_ranges_are_direct_regions unity_sharers_share_one_group \
		 unity_map_logged_per_device direct_assign_follows_the_policy \
		 dma_oracle_catches_a_missing_mapping unity_ranges_mapped_for_dma; do
		skip $t "no IVMD range covers a present PCI device"
	done
	no_direct_regions_without_ivmd
	skip rmrr_report_reads_ivrs "no IVMD range covers a present PCI device"
	for t in vfio_claim_follows_the_policy claims_keep_unity_ranges \
		 claims_keep_unity_ranges_held_windows release_needs_no_allocation \
		 apart_devices_keep_their_topology_group; do
		skip $t "no IVMD range covers a present PCI device"
	done
	exit 0
fi

# 2. Every range of every covered device is a direct region of its group.
bad=0
for d in $COVERED; do
	regions=/sys/kernel/iommu_groups/$(group_of "$d")/reserved_regions
	ranges_of "$d" > /tmp/want
	while read -r start end; do
		found=0
		while read -r rs re type; do
			[ "$type" = direct ] || continue
			[ $((rs)) -le "$start" ] && [ $((re)) -ge "$end" ] && found=1
		done < "$regions"
		if [ $found = 0 ]; then
			echo "# $d: [$(hex "$start") - $(hex "$end")] is not a direct region of $regions:"
			sed 's/^/#   /' "$regions"
			bad=1
		fi
	done < /tmp/want
done
[ $bad = 0 ] && ok unity_ranges_are_direct_regions || not_ok unity_ranges_are_direct_regions

# 3. Devices whose ranges overlap are in one group, unless the
# administrator opted out (then the kernel says they stay apart).
bad=0
for a in $COVERED; do
	for b in $COVERED; do
		[ "$a" \< "$b" ] || continue
		[ "$(group_of "$a")" = "$(group_of "$b")" ] && continue
		shares_range "$a" "$b" || continue
		if grep -q "iommu.direct_share_groups=0" /proc/cmdline &&
		   dmesg | grep -q "stays apart (iommu.direct_share_groups=0)"; then
			echo "# $a and $b share a range and stay apart, as asked"
			continue
		fi
		if { is_apart "$a" || is_apart "$b"; } &&
		   dmesg | grep -q "grouped by its topology only (iommu.direct_share_apart)"; then
			echo "# $a and $b share a range, one is named in iommu.direct_share_apart"
			continue
		fi
		echo "# $a (group $(group_of "$a")) and $b (group $(group_of "$b")) share a unity range"
		bad=1
	done
done
[ $bad = 0 ] && ok unity_sharers_share_one_group || not_ok unity_sharers_share_one_group

# 4. One "Setting identity map" line per device and range, AMD-Vi's prefix.
bad=0
for d in $COVERED; do
	ranges_of "$d" | sort -u > /tmp/want
	while read -r start end; do
		line="pci $d: AMD-Vi: Setting identity map \[$(hex "$start") - $(hex "$end")\]"
		c=$(dmesg | grep -c "$line")
		w=$(ranges_of "$d" | grep -c "^$start $end\$")
		if [ "$c" != "$w" ]; then
			echo "# $d: $c line(s) '$line', the table has $w range(s)"
			bad=1
		fi
	done < /tmp/want
done
[ $bad = 0 ] && ok unity_map_logged_per_device || not_ok unity_map_logged_per_device

# 5. The policy is the administrator's: every QEMU device lacks ATS,
# PRI and PASID, so the driver moves them between domains without a gap
# and direct_assign reads what the command line asked for.
policy=deny
grep -q "iommu.direct_assign=preserve" /proc/cmdline && policy=preserve
bad=0
for d in $COVERED; do
	g=/sys/kernel/iommu_groups/$(group_of "$d")/direct_assign
	if [ "$(cat "$g")" != $policy ]; then
		echo "# $g reads $(cat "$g"), not $policy"
		bad=1
	fi
done
[ $bad = 0 ] && ok direct_assign_follows_the_policy ||
	not_ok direct_assign_follows_the_policy

# 6. The oracle: an edu on bus 0 whose domain lacks a range cannot copy
# data through it (edu_dma exits 1), so a pass of 7 means something.
probe=""
for d in $(edus); do
	case $d in 0000:00:*) ;; *) continue ;; esac
	[ -z "$(ranges_of "$d")" ] || continue
	type=$(cat /sys/kernel/iommu_groups/$(group_of "$d")/type)
	[ "$type" = identity ] && continue
	probe=$d
	break
done
target=$(ivmds | head -1 | cut -d' ' -f3)
if [ -z "$probe" ]; then
	skip dma_oracle_catches_a_missing_mapping "no translated edu on bus 0 without a range"
else
	./edu_dma "$probe" "$(hex "$target")"
	rc=$?
	if [ $rc = 1 ]; then
		ok dma_oracle_catches_a_missing_mapping
	else
		echo "# $probe has no mapping of $(hex "$target"), edu_dma exited $rc (want 1)"
		not_ok dma_oracle_catches_a_missing_mapping
	fi
fi

# 7. Every bus-0 edu reads and writes each of its ranges by DMA.
bad=0
tried=0
for d in $(edus); do
	case $d in 0000:00:*) ;; *) continue ;; esac
	for start in $(ranges_of "$d" | cut -d' ' -f1 | sort -u); do
		tried=$((tried + 1))
		out=$(./edu_dma "$d" "$(hex "$start")" 2>&1)
		rc=$?
		echo "$out" | sed 's/^/# /'
		[ $rc = 0 ] || bad=1
	done
done
if [ $tried = 0 ]; then
	skip unity_ranges_mapped_for_dma "no edu on bus 0 with a range"
else
	[ $bad = 0 ] && ok unity_ranges_mapped_for_dma || not_ok unity_ranges_mapped_for_dma
fi

no_direct_regions_without_ivmd

# 9. rmrr-report reads the IVRS on this host: per covered device each of
# its ranges (as the table says, in pages), the group's policy, and the
# verdict it implies (deny: assignable after writing preserve, exit
# status 1; preserve: assignable now, 0); a device without a range is
# assignable as it is.
bad=0
for d in $COVERED; do
	out=$(./rmrr-report "$d")
	rc=$?
	while read -r start end; do
		echo "$out" | grep -q "IVMD #[0-9]*  $(hex "$start")-$(hex "$end")  .*  direct  reported in group $(group_of "$d") reserved_regions" || {
			echo "# rmrr-report $d does not list [$(hex "$start") - $(hex "$end")] as reported"
			bad=1
		}
	done <<EOF_RANGES
$(ranges_of "$d")
EOF_RANGES
	policy=$(cat /sys/kernel/iommu_groups/$(group_of "$d")/direct_assign)
	echo "$out" | grep -q "direct_assign: $policy\$" || { echo "# $d: policy not $policy"; bad=1; }
	split=0
	for e in $COVERED; do
		[ "$(group_of "$e")" != "$(group_of "$d")" ] && shares_range "$d" "$e" && split=1
	done
	if [ $policy = deny ]; then
		want_rc=1 want="verdict: assignable after: echo preserve"
	elif [ $split = 1 ] && is_apart "$d"; then
		want_rc=0 want="verdict: assignable now: .*keeps this device apart as iommu.direct_share_apart asks"
	elif [ $split = 1 ]; then
		want_rc=1 want="verdict: assignable now: .*share firmware memory but the kernel keeps them apart"
	else
		want_rc=0 want="verdict: assignable now: direct_assign=preserve keeps"
	fi
	if [ $rc != $want_rc ] || ! echo "$out" | grep -q "$want"; then
		echo "# rmrr-report $d exited $rc:"
		echo "$out" | sed 's/^/#   /'
		bad=1
	fi
done
if [ -n "$probe" ]; then
	out=$(./rmrr-report "$probe")
	rc=$?
	if [ $rc != 0 ] || ! echo "$out" | grep -q "no IVMD names this device"; then
		echo "# rmrr-report $probe (no range) exited $rc:"
		echo "$out" | sed 's/^/#   /'
		bad=1
	fi
fi
[ $bad = 0 ] && ok rmrr_report_reads_ivrs || not_ok rmrr_report_reads_ivrs

# 10. Through the real ioctls, VFIO refuses the group under deny (with
# the reason in the log) and takes it under preserve; either way its
# devices still reach their ranges afterwards.  Only a group of edus
# without drivers: binding a host bridge or disk controller to vfio-pci
# would take the guest's own devices away.
# 11, 12 (preserve): while the group is claimed and released back to back
# for 20 s, a bus-0 member copies its range by DMA again and again; a
# domain change that cleared the device's entry for an instant would
# return zeros (QEMU logs no fault).  12 holds each blocking change's
# window open for 50 ms (debugfs replace_window_ms), so a domain change
# through the blocking path fails it on every run.
claim_group=""
for d in $COVERED; do
	g=$(group_of "$d")
	all_edu=1
	for m in /sys/kernel/iommu_groups/$g/devices/*; do
		[ "$(cat "$m/vendor"):$(cat "$m/device")" = "0x1234:0x11e8" ] &&
			[ ! -e "$m/driver" ] || all_edu=0
	done
	[ $all_edu = 1 ] && { claim_group=$g; break; }
done

# Copies by $1 of its first range while the group is claimed and released
# back to back; prints "copies failed".
copies_while_claiming() {
	start=$(ranges_of "$1" | head -1 | cut -d' ' -f1)
	./vfio_claim "$claim_group" 20 > /tmp/claims &
	claimer=$!
	copies=0 failed=0
	while kill -0 $claimer 2>/dev/null; do
		./edu_dma "$1" "$(hex "$start")" > /dev/null || failed=$((failed + 1))
		copies=$((copies + 1))
	done
	wait $claimer
	claim_rc=$?
	echo "# $(cat /tmp/claims) (exit $claim_rc), $copies copies by $1, $failed wrong"
	[ $claim_rc = 0 ] || failed=$((failed + 1))
	echo "$copies $failed"
}

# 13 (preserve): giving the group back must not fail, so it must not
# allocate: with every allocation of per-IOMMU domain state failed
# (fail_function on pdom_attach_new_iommu, armed while the claim is held),
# the release makes none, warns nothing, and the devices keep their range
# and can be claimed again.
FEI=/sys/kernel/debug/fail_function
release_needs_no_allocation() {
	if [ ! -w $FEI/inject ]; then
		not_ok release_needs_no_allocation
		echo "# no $FEI (CONFIG_FAIL_FUNCTION)"
		return
	fi
	bad=0
	rm -f /tmp/release
	./vfio_claim "$claim_group" --hold /tmp/release > /tmp/held &
	holder=$!
	while ! grep -q "claimed\|vfio_claim:" /tmp/held && kill -0 $holder 2>/dev/null; do
		sleep 0.1
	done
	warns=$(dmesg | grep -c "WARNING:")
	if ! echo pdom_attach_new_iommu > $FEI/inject; then
		touch /tmp/release; wait $holder
		not_ok release_needs_no_allocation
		echo "# pdom_attach_new_iommu cannot be failed"
		return
	fi
	echo -12 > $FEI/pdom_attach_new_iommu/retval
	echo 100 > $FEI/probability
	echo 1 > $FEI/interval
	echo 0 > $FEI/verbose
	echo 1000 > $FEI/times
	touch /tmp/release
	wait $holder
	rc=$?
	injected=$((1000 - $(cat $FEI/times)))
	echo > $FEI/inject
	echo "# $(tr '\n' ' ' < /tmp/held)(exit $rc), $injected allocation(s) failed"
	[ $rc = 0 ] || bad=1
	[ $injected = 0 ] || { echo "# the release allocated"; bad=1; }
	[ "$(dmesg | grep -c "WARNING:")" = "$warns" ] ||
		{ dmesg | grep "WARNING:" | tail -2 | sed 's/^/# /'; bad=1; }
	./edu_dma "$probe_member" "$(hex "$(ranges_of "$probe_member" | head -1 | cut -d' ' -f1)")" > /dev/null ||
		{ echo "# $probe_member lost its range"; bad=1; }
	./vfio_claim "$claim_group" > /dev/null || { echo "# no claim after the release"; bad=1; }
	[ $bad = 0 ] && ok release_needs_no_allocation || not_ok release_needs_no_allocation
}

if [ -z "$claim_group" ]; then
	skip vfio_claim_follows_the_policy "no covered group of driverless edus"
	skip claims_keep_unity_ranges "no covered group of driverless edus"
	skip claims_keep_unity_ranges_held_windows "no covered group of driverless edus"
	skip release_needs_no_allocation "no covered group of driverless edus"
else
	members=$(ls /sys/kernel/iommu_groups/$claim_group/devices)
	for m in $members; do
		echo vfio-pci > /sys/bus/pci/devices/$m/driver_override
		echo "$m" > /sys/bus/pci/drivers_probe
	done
	before=$(dmesg | grep -c "IOMMU group $claim_group is not given to a DMA owner (iommu.direct_assign=deny)")
	out=$(./vfio_claim "$claim_group")
	rc=$?
	echo "# $out"
	after=$(dmesg | grep -c "IOMMU group $claim_group is not given to a DMA owner (iommu.direct_assign=deny)")
	bad=0
	if [ $policy = deny ]; then
		[ $rc = 1 ] && echo "$out" | grep -q "VFIO_GROUP_SET_CONTAINER: EINVAL" || bad=1
		[ "$after" -gt "$before" ] || { echo "# no refusal line in the log"; bad=1; }
	else
		[ $rc = 0 ] && echo "$out" | grep -q "group $claim_group claimed" || bad=1
	fi
	probe_member=""
	for m in $members; do
		start=$(ranges_of "$m" | head -1 | cut -d' ' -f1)
		case $m in 0000:00:*) probe_member=$m ;; *) continue ;; esac
		./edu_dma "$m" "$(hex "$start")" > /dev/null || {
			echo "# $m lost its range after the claim"
			bad=1
		}
	done
	[ $bad = 0 ] && ok vfio_claim_follows_the_policy || not_ok vfio_claim_follows_the_policy

	knob=/sys/kernel/debug/iommu/amd/replace_window_ms
	if [ $policy != preserve ]; then
		skip claims_keep_unity_ranges "policy is $policy"
		skip claims_keep_unity_ranges_held_windows "policy is $policy"
		skip release_needs_no_allocation "policy is $policy"
	elif [ -z "$probe_member" ]; then
		skip claims_keep_unity_ranges "no member on bus 0 (QEMU's amd-iommu)"
		skip claims_keep_unity_ranges_held_windows "no member on bus 0 (QEMU's amd-iommu)"
		skip release_needs_no_allocation "no member on bus 0 (QEMU's amd-iommu)"
	else
		set -- $(copies_while_claiming "$probe_member" | tee /tmp/copies | tail -1)
		grep "^#" /tmp/copies
		[ "$1" -gt 0 ] && [ "$2" = 0 ] && ok claims_keep_unity_ranges ||
			not_ok claims_keep_unity_ranges
		if [ ! -e $knob ]; then
			not_ok claims_keep_unity_ranges_held_windows
			echo "# no $knob (CONFIG_AMD_IOMMU_DEBUGFS)"
		elif ! echo 50 > $knob; then
			not_ok claims_keep_unity_ranges_held_windows
			echo "# cannot write $knob"
		else
			set -- $(copies_while_claiming "$probe_member" | tee /tmp/copies | tail -1)
			echo 0 > $knob
			grep "^#" /tmp/copies
			[ "$1" -gt 0 ] && [ "$2" = 0 ] && ok claims_keep_unity_ranges_held_windows ||
				not_ok claims_keep_unity_ranges_held_windows
		fi
		release_needs_no_allocation
	fi
	for m in $members; do
		echo "$m" > /sys/bus/pci/devices/$m/driver/unbind
		echo > /sys/bus/pci/devices/$m/driver_override
	done
fi

# 14. Devices named in iommu.direct_share_apart keep the group their
# topology gives them (the scenario says which: APART_GROUP), with their
# ranges still direct regions (2) and one log line each saying what is
# given up, while the other covered devices stay one group.  A named
# device whose topology group holds an unnamed sharer stays with the
# sharers (APART_REFUSED), and the log names the device to add.
if [ -n "$APART_GROUP" ]; then
	bad=0
	g=$(group_of "${APART_GROUP%% *}")
	have=$(ls /sys/kernel/iommu_groups/$g/devices | sort | tr '\n' ' ')
	want=$(echo $APART_GROUP | tr ' ' '\n' | sort | tr '\n' ' ')
	[ "$have" = "$want" ] || { echo "# group $g holds $have, want $want"; bad=1; }
	for d in $APART_GROUP; do
		grep -q "pci $d: shares direct-mapped range \[.*\] with .* but is grouped by its topology only (iommu.direct_share_apart)" /tmp/boot.dmesg ||
			{ echo "# no apart line for $d"; bad=1; }
	done
	rest=""
	for d in $COVERED; do
		echo " $APART_GROUP " | grep -q " $d " || rest="$rest $(group_of "$d")"
	done
	n_rest=$(echo $rest | tr ' ' '\n' | sort -u | wc -l)
	[ "$n_rest" = 1 ] || { echo "# the other covered devices are in groups$rest"; bad=1; }
	[ $bad = 0 ] && ok apart_devices_keep_their_topology_group ||
		not_ok apart_devices_keep_their_topology_group
elif [ -n "$APART_REFUSED" ]; then
	bad=0
	for d in $APART_REFUSED; do
		with=0
		for e in $COVERED; do
			[ "$e" = "$d" ] && continue
			is_apart "$e" && continue
			[ "$(group_of "$e")" = "$(group_of "$d")" ] && shares_range "$d" "$e" && with=1
		done
		[ $with = 1 ] || { echo "# $d left its sharers' group $(group_of "$d")"; bad=1; }
		grep -q "pci $d: is named in iommu.direct_share_apart, but [0-9a-f:.]* of its topology group is not" /tmp/boot.dmesg ||
			{ echo "# no line saying why $d stays"; bad=1; }
	done
	[ $bad = 0 ] && ok apart_devices_keep_their_topology_group ||
		not_ok apart_devices_keep_their_topology_group
else
	skip apart_devices_keep_their_topology_group "no device named in iommu.direct_share_apart"
fi
