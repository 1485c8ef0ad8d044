"""make profile: where a preserved claim spends the time a plain one does not.

Boots build/bzImage-prof (the bench config plus ftrace's function
profiler, configs/profile.config) on scenarios/bench/bench-edu.toml and
bench-ranges.toml, runs tests/bench/rmrr_bench with BENCH_PROFILE=1: each
device's 30 type1 claims and releases run under the function profiler,
limited to the IOMMU, VFIO and allocator functions below.  The profiler
times each function with its children (graph-time), so a parent's time
contains its callees'.

Each device's claims run twice per boot and only the second round is
profiled (the first pays for TCG translating the code), and the counts of
BOOTS boots are summed.  Printed per scenario: the total the profiler saw
per claim (the ioctls and
closes the claim is made of) for each device and its ratio to the plain
device, then the functions whose time per claim grows most over the plain
device's, with calls per claim.  The tracer's own cost is in every figure,
so only differences and ratios inside one boot are read, never absolute
times, and never against make bench.
"""

import os
import sys

from . import lane, scenario, vm

TOP = lane.TOP
KERNEL = "build/bzImage-prof"
SCENARIOS = ["bench-edu", "bench-ranges"]
CMDLINE = ["iommu.direct_assign=preserve", "loglevel=4"]
# ftrace's glob filter: the claim path's own code and what it allocates with
FILTER = ("*iommu* *vfio* *dmar* *domain* intel_* *pasid* *context* *iotlb* "
          "*flush* *resv* *group* *direct* qi_* *cache_tag* __kmalloc* kfree "
          "*page_alloc* *free_pages* *pgtable* *pte* dma_pte* *_map_pages "
          "*unmap_pages* *iova* *mutex_lock* fput __fput *file_open* "
          "do_sys_open* __x64_sys_ioctl __x64_sys_close __x64_sys_openat")
# The roots: every claim is these syscalls and the file releases that run
# after close() returns to user mode (task work, outside the syscall).
ROOTS = ("__x64_sys_openat", "__x64_sys_ioctl", "__x64_sys_close", "__fput")
CLAIMS = 30     # per device and boot (rmrr_bench), after as many unprofiled
BOOTS = 3       # summed: one boot's counts move with TCG's timing
TOP_N = 25


def guest_script(sc):
    env = " ".join(f"{k}='{v}'" for k, v in sorted(sc.test_env.items()))
    return "\n".join([
        "mount -t tracefs nodev /sys/kernel/tracing",
        f"echo '{FILTER}' > /sys/kernel/tracing/set_ftrace_filter",
        "cd /tests",
        'echo "WB-TEST rmrr_bench"',
        f"{env} BENCH_PROFILE=1 ./rmrr_bench",
        'echo "WB-RC $?"',
    ]) + "\n"


def parse(output):
    """PROF dev function hits ns -> {dev: {function: [hits, ns]}}, summed
    over the CPUs."""
    prof = {}
    for line in output.splitlines():
        f = line.split()
        if len(f) == 5 and f[0] == "PROF":
            entry = prof.setdefault(f[1], {}).setdefault(f[2], [0, 0])
            entry[0] += int(f[3])
            entry[1] += int(f[4])
    return prof


def merge(profs):
    """Several boots' parse() results summed into one."""
    total = {}
    for prof in profs:
        for dev, funcs in prof.items():
            for fn, (hits, ns) in funcs.items():
                entry = total.setdefault(dev, {}).setdefault(fn, [0, 0])
                entry[0] += hits
                entry[1] += ns
    return total


def claim_ns(funcs, claims=CLAIMS):
    """One claim and release: the syscalls it is made of, per claim."""
    return sum(funcs.get(r, [0, 0])[1] for r in ROOTS) / claims


def plain_device(prof, sc):
    """The bench scenario's device without an RMRR (its name says so)."""
    for d in sc.devices:
        if d.name == "plain" and d.bdf in prof:
            return d.bdf
    raise SystemExit(f"{sc.name}: no device named plain was profiled")


def report(sc, prof, boots):
    claims = CLAIMS * boots
    plain = plain_device(prof, sc)
    base = prof[plain]
    print(f"## {sc.name}: one type1 claim + release under the function profiler "
          f"({CLAIMS} claims in each of {boots} boots), microseconds per claim, "
          f"children included")
    print(f"{'device':10} {'per claim':>10} {'/ plain':>8}")
    for dev in sorted(prof):
        print(f"{dev:10} {claim_ns(prof[dev], claims) / 1000:10.1f} "
              f"{claim_ns(prof[dev], claims) / claim_ns(base, claims):8.2f}")
    for dev in sorted(prof):
        if dev == plain:
            continue
        funcs = prof[dev]
        extra = claim_ns(funcs, claims) - claim_ns(base, claims)
        rows = []
        for fn, (hits, ns) in funcs.items():
            b_hits, b_ns = base.get(fn, [0, 0])
            rows.append(((ns - b_ns) / claims, fn, hits / claims, b_hits / claims,
                         ns / claims, b_ns / claims))
        rows.sort(reverse=True)
        print(f"### {dev} against {plain}: {extra / 1000:+.1f} us per claim; the functions "
              f"whose time grew most (a parent's growth contains its callees')")
        print(f"{'function':44} {'+us/claim':>10} {'% of extra':>10} {'calls':>7} "
              f"{'plain':>7} {'us':>8} {'plain us':>8}")
        for d, fn, calls, b_calls, ns, b_ns in rows[:TOP_N]:
            share = 100 * d / extra if extra > 0 else 0
            print(f"{fn:44} {d / 1000:10.1f} {share:9.0f}% {calls:7.1f} {b_calls:7.1f} "
                  f"{ns / 1000:8.1f} {b_ns / 1000:8.1f}")


def main():
    kernel = os.path.join(TOP, KERNEL)
    failed = 0
    for name in SCENARIOS:
        sc = scenario.load(os.path.join(TOP, "scenarios/bench", f"{name}.toml"))
        profs = []
        for i in range(BOOTS):
            log_dir = os.path.join(TOP, "build/logs/profile", f"{name}-{i}")
            res = vm.run(sc, kernel, guest_script(sc), log_dir,
                         test_files=[os.path.join(TOP, "build/tests/rmrr_bench")],
                         timeout=1800, extra_cmdline=CMDLINE)
            prof = parse(res.output)
            if res.status != 0 or res.problems or "WB-RC 0" not in res.output or not prof:
                print(f"# {name}: {res.verdict()} (see {log_dir})", file=sys.stderr)
                failed += 1
                continue
            profs.append(prof)
        if profs:
            report(sc, merge(profs), len(profs))
    return 1 if failed else 0
