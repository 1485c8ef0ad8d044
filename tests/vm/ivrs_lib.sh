# Helpers of the AMD tests (amd_ivmd.sh, amd_hotplug.sh), sourced from
# /tests: TAP output, and the IVRS table's IVMD blocks decoded from its own
# bytes in sysfs (not by the kernel or the generator).
IVRS=/sys/firmware/acpi/tables/IVRS
n=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n $1"; }
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
hex() { printf '%#x' "$1"; }

# IVMD blocks as "devid_first devid_last start last" (decimal), from the
# table: type 20h covers every device, 21h one, 22h the range up to its
# auxiliary field; the kernel maps whole pages, the first to the last
# byte's.
ivmds() {
	od -An -tu1 -v "$IVRS" | tr -s ' \n' '\n\n' | grep . | awk '
	{ b[NR - 1] = $1 } END {
		len = b[4] + b[5] * 256 + b[6] * 65536 + b[7] * 16777216
		off = 48
		while (off < len) {
			t = b[off]; blen = b[off + 2] + b[off + 3] * 256
			if (blen == 0) break
			if (t == 32 || t == 33 || t == 34) {
				d = b[off + 4] + b[off + 5] * 256
				aux = b[off + 6] + b[off + 7] * 256
				s = 0; l = 0
				for (i = 7; i >= 0; i--) {
					s = s * 256 + b[off + 16 + i]
					l = l * 256 + b[off + 24 + i]
				}
				first = (t == 32) ? 0 : d
				last = (t == 32) ? 65535 : (t == 33 ? d : aux)
				start = s - s % 4096
				e = s + (l > 0 ? l : 1) - 1
				printf "%d %d %.0f %.0f\n", first, last, start, e - e % 4096 + 4095
			}
			off += blen
		}
	}'
}

devid_of() {	# 0000:BB:DD.F -> bus << 8 | dev << 3 | fn
	b=${1#*:}; bus=${b%%:*}; df=${b#*:}; dev=${df%.*}; fn=${df#*.}
	echo $(( (0x$bus << 8) | (0x$dev << 3) | fn ))
}

# The IOMMU group of device $1, or "none".
group_of() {
	[ -e /sys/bus/pci/devices/$1/iommu_group ] || { echo none; return; }
	basename "$(readlink /sys/bus/pci/devices/$1/iommu_group)"
}

# The ranges of the table that cover device $1, one "start last" a line.
ranges_of() {
	id=$(devid_of "$1")
	ivmds | while read -r first last start end; do
		[ "$id" -ge "$first" ] && [ "$id" -le "$last" ] && echo "$start $end"
	done
}
