"""make bench: unpatched 6.12 against the series, same config, same run.

Boots build/bzImage-bench-base (tag base) and build/bzImage-bench (the
series) BOOTS times each, alternating, on scenarios/bench/*.toml, runs
tests/bench/rmrr_bench in the guest and prints one table: per measurement
the median of the boots' medians (lowest-highest) on each kernel and the
ratio series / 6.12, then the ratios inside the series that the
performance targets name.  Times are nanoseconds of one
call under TCG, so only ratios taken in the same run mean anything.
"""

import glob
import os
import sys

from . import lane, scenario, vm

TOP = lane.TOP
KERNELS = [("6.12", "build/bzImage-bench-base"), ("series", "build/bzImage-bench")]
# 6.12 ignores direct_assign.  loglevel=4 keeps KERN_INFO off the serial
# console: under TCG printing a line costs more than most of what is
# measured (a claim of a device with nine RMRRs logged nine lines and took
# 6.6 ms against 0.14 ms without), and a host booted "quiet" does not
# print them either.  The lines are still in the log (/dev/kmsg).
CMDLINE = ["iommu.direct_assign=preserve", "loglevel=4"]
BOOTS = 3       # per kernel: one boot's medians jump between two levels under TCG


def parse(output):
    """BENCH name n min med max / BENCH refused.dev / PTES dev base end n."""
    times, notes, ptes = {}, {}, []
    for line in output.splitlines():
        f = line.split()
        if len(f) == 6 and f[0] == "BENCH":
            times[f[1]] = tuple(int(x) for x in f[3:6])
        elif len(f) >= 2 and f[0] == "BENCH":
            notes[f[1]] = " ".join(f[2:])
        elif len(f) == 5 and f[0] == "PTES":
            ptes.append((f[1], int(f[2], 16), int(f[3], 16), int(f[4])))
    return times, notes, ptes


def min_entries(base, end, sizes=(1 << 30, 1 << 21, 1 << 12)):
    """Fewest leaf entries that map [base, end] 1:1 with these page sizes."""
    n, addr = 0, base
    while addr <= end:
        size = next(s for s in sizes if addr % s == 0 and addr + s - 1 <= end)
        addr += size
        n += 1
    return n


def combine(results):
    """Several boots' parse() results -> one: per measurement the median of
    the boots' medians, with the lowest and highest boot median."""
    times, notes, ptes = {}, {}, results[-1][2]
    for name in {n for t, _, _ in results for n in t}:
        meds = sorted(t[name][1] for t, _, _ in results if name in t)
        times[name] = (meds[0], meds[len(meds) // 2], meds[-1])
    for _, n, _ in results:
        notes.update(n)
    return times, notes, ptes


def ratio_spread(num_boots, den_boots, num, den):
    """The ratio num/den per boot (each boot's median of each), over the
    boots where both were measured: (median, lowest, highest), or None.
    Pairs come from the same boot index, which run alternately."""
    r = sorted(a[0][num][1] / b[0][den][1] for a, b in zip(num_boots, den_boots)
               if num in a[0] and den in b[0] and b[0][den][1])
    return (r[len(r) // 2], r[0], r[-1]) if r else None


def fmt_ratio(r, target=None):
    """'1.54 (1.31-1.80)', and whether 1.0, or the target, is inside the
    spread: a difference the boots cannot tell from none, or from the
    target, is said to be inside it."""
    if r is None:
        return ""
    text = f"{r[0]:.2f} ({r[1]:.2f}-{r[2]:.2f})"
    if r[1] <= 1.0 <= r[2]:
        text += " 1.0 inside the spread"
    if target is not None:
        text += f"; target {target}: " + ("met" if r[2] <= target else
                                          "inside the spread" if r[1] <= target else "missed")
    return text


# Targets the performance work names, per measurement inside the series
# (claim and release of a preserved group against the plain device).
TARGETS = {"claim_attach": 1.2, "release": 1.2, "iommufd_attach": 1.2, "iommufd_release": 1.2,
           "map_4k": 1.05, "unmap_4k": 1.05, "map_2m": 1.05, "unmap_2m": 1.05}


def fmt(t):
    return f"{t[1] / 1000:.1f} ({t[0] / 1000:.1f}-{t[2] / 1000:.1f})"


def print_entries(p0, p1):
    """Per device, the leaf entries its direct ranges take in the default
    domain (debugfs page-table dump) on each kernel, against the fewest
    that 4 KiB, 2 MiB and 1 GiB pages allow."""
    base = {(dev, b, e): n for dev, b, e, n in p0}
    devs = sorted({dev for dev, _, _, _ in p1})
    for dev in devs:
        mine = [(b, e, n) for d, b, e, n in p1 if d == dev]
        want = sum(min_entries(b, e) for b, e, _ in mine)
        old = sum(base.get((dev, b, e), 0) for b, e, _ in mine)
        what = (f"{mine[0][0]:#x}-{mine[0][1]:#x}" if len(mine) == 1
                else f"{len(mine)} ranges")
        print(f"page-table entries, {dev} {what}: 6.12 {old}, series "
              f"{sum(n for _, _, n in mine)}, minimum {want}")


def print_inside_series(sc, t1, p1, boots1):
    """The ratios the performance targets name, all from the series' boots:
    each device against the one without an RMRR, and direct-mapping
    installation (probe) against the device with a single 4 KiB range.
    Each ratio is the median of the per-boot ratios, with their spread."""
    devs = [d.bdf for d in sc.devices]
    ranges = {d: [(b, e) for dev, b, e, _ in p1 if dev.endswith(d)] for d in devs}
    plain = next((d for d in devs if not ranges[d]), None)
    small = next((d for d in devs if [e - b for b, e in ranges[d]] == [0xfff]), None)
    if plain is None or not any(k.startswith("probe.") for k in t1):
        return
    print(f"## inside the series: per-boot ratio, median (lowest-highest) of {len(boots1)} boots")
    for d in devs:
        if d == plain:
            continue
        for what in ("probe", "claim_attach", "release", "iommufd_attach",
                     "iommufd_release", "map_4k", "unmap_4k", "map_2m", "unmap_2m"):
            r = ratio_spread(boots1, boots1, f"{what}.{d}", f"{what}.{plain}")
            if r:
                print(f"{what}.{d} / {what}.{plain} (no RMRR): {fmt_ratio(r, TARGETS.get(what))}")
    for d in devs:
        if small and d not in (small, plain):
            r = ratio_spread(boots1, boots1, f"probe.{d}", f"probe.{small}")
            if r:
                print(f"probe.{d} / probe.{small} (one 4 KiB RMRR): {fmt_ratio(r)}")


def run_one(sc, label, kernel, log_root):
    log_dir = os.path.join(log_root, f"{sc.name}-{label}")
    res = vm.run(sc, os.path.join(TOP, kernel), lane.guest_script(sc, ["rmrr_bench"]), log_dir,
                 test_files=[os.path.join(TOP, "build/tests/rmrr_bench")], timeout=1800,
                 extra_cmdline=CMDLINE)
    ok = res.status == 0 and not res.problems and "WB-RC 0" in res.output
    if not ok:
        print(f"# {sc.name} on {label}: {res.verdict()} (see {log_dir})", file=sys.stderr)
    return parse(res.output), ok


def main():
    log_root = os.path.join(TOP, "build/logs/bench")
    failed = 0
    only = os.environ.get("BENCH", "")     # e.g. BENCH=bench-topology: those scenarios only
    scenarios = []
    for path in sorted(glob.glob(os.path.join(TOP, "scenarios/bench/*.toml"))):
        sc = scenario.load(path)
        scenarios += [sc] + sc.variants     # e.g. bench-edu+sm: VT-d scalable mode
    for sc in scenarios:
        if only and sc.name not in only.split(","):
            continue
        runs = {label: [] for label, _ in KERNELS}
        boots = int(sc.test_env.get("BENCH_BOOTS", BOOTS))
        for i in range(boots):            # alternate, so drift hits both kernels alike
            for label, k in KERNELS:
                result, ok = run_one(sc, f"{label}-{i}", k, log_root)
                runs[label].append(result)
                failed += not ok
        (t0, n0, p0), (t1, n1, p1) = combine(runs["6.12"]), combine(runs["series"])
        print(f"## {sc.name}: microseconds per call, median of {boots} boots per kernel "
              f"(lowest-highest boot median); boot_grouping: first to last "
              f"'Adding to iommu group' line")
        print(f"{'measurement':32} {'6.12':>26} {'series':>26}  ratio per boot, median (lowest-highest)")
        for name in sorted(set(t0) | set(t1) | set(n0) | set(n1)):
            a = fmt(t0[name]) if name in t0 else n0.get(name, "-")
            b = fmt(t1[name]) if name in t1 else n1.get(name, "-")
            ratio = fmt_ratio(ratio_spread(runs["series"], runs["6.12"], name, name))
            print(f"{name:32} {a:>26} {b:>26}  {ratio}")
        print_inside_series(sc, t1, p1, runs["series"])
        print_entries(p0, p1)
    if failed:
        print(f"{failed} benchmark boot(s) failed; the table above is incomplete")
    return 1 if failed else 0
