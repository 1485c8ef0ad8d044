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
CMDLINE = ["iommu.direct_assign=preserve"]   # 6.12 ignores it
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


def fmt(t):
    return f"{t[1] / 1000:.1f} ({t[0] / 1000:.1f}-{t[2] / 1000:.1f})"


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
    for path in sorted(glob.glob(os.path.join(TOP, "scenarios/bench/*.toml"))):
        sc = scenario.load(path)
        runs = {label: [] for label, _ in KERNELS}
        for i in range(BOOTS):            # alternate, so drift hits both kernels alike
            for label, k in KERNELS:
                result, ok = run_one(sc, f"{label}-{i}", k, log_root)
                runs[label].append(result)
                failed += not ok
        (t0, n0, _), (t1, n1, p1) = combine(runs["6.12"]), combine(runs["series"])
        print(f"## {sc.name}: microseconds per call, median of {BOOTS} boots per kernel "
              f"(lowest-highest boot median)")
        print(f"{'measurement':32} {'6.12':>26} {'series':>26} {'ratio':>7}")
        for name in sorted(set(t0) | set(t1) | set(n0) | set(n1)):
            a = fmt(t0[name]) if name in t0 else n0.get(name, "-")
            b = fmt(t1[name]) if name in t1 else n1.get(name, "-")
            ratio = f"{t1[name][1] / t0[name][1]:.2f}" if name in t0 and name in t1 else ""
            print(f"{name:32} {a:>26} {b:>26} {ratio:>7}")
        print("## inside the series")
        devs = [d.bdf for d in sc.devices]
        plain = next(d for d in devs if not any(p[0].endswith(d) for p in p1))
        for d in devs:
            if d == plain:
                continue
            for what in ("claim_attach", "release", "map_4k", "unmap_4k", "map_2m", "unmap_2m"):
                a, b = t1.get(f"{what}.{d}"), t1.get(f"{what}.{plain}")
                if a and b:
                    print(f"{what}.{d} / {what}.{plain} (no RMRR): {a[1] / b[1]:.2f}")
        for dev, base, end, n in p1:
            print(f"direct range {base:#x}-{end:#x} of {dev}: {n} page-table entries, "
                  f"minimum {min_entries(base, end)} (4 KiB, 2 MiB and 1 GiB pages)")
    if failed:
        print(f"{failed} benchmark boot(s) failed; the table above is incomplete")
    return 1 if failed else 0
