"""Malformed DMAR tables, each booted: the kernel must reach init, say what
it rejects, build nothing from rejected entries, and never splat.

  python3 -m workbench hostile [--sample] [--jobs 2] [--seed N] [IDs...]

The tables are made from a fixed seed (so the set is the same on every run)
by applying one mutation kind to a small machine: an edu behind a root port
(01:00.0), an edu on bus 0 (00:03.0) and an xHCI (00:14.0), 512 MiB.  Some
mutations break a structure's bytes (checked against the kernel's
"dropped" lines by the rmrr_groups selftest, which parses the table the
same way), others are well-formed RMRRs the kernel's policy drops or keeps
(the selftest applies the same policy).  Every RMRR meant to look like
firmware-reserved memory gets a memmap= reservation.
"""

import dataclasses
import random
import struct

from . import corpus_run, dmar, expect, lane, scenario, vm

MiB = 1 << 20
RAM = 512 * MiB
RESERVED_AT = 0x1e000000           # where "honest" RMRRs go, below 512 MiB
KERNEL_TEXT = 0x1000000            # where the kernel is loaded
EDU_RP = [(1, 0), (0, 0)]          # 01:00.0 through the root port at 00:01.0
EDU_ROOT = [(3, 0)]
XHCI = [(0x14, 0)]
TABLES_PER_KIND = 11
SAMPLE_PER_KIND = 1
HOSTILE_TESTS = ["rmrr_groups"]


@dataclasses.dataclass
class Hostile:
    id: int
    kind: str
    table: bytes
    memmap: list               # "SIZE$ADDR" reservations
    note: str


def scope(path, kind="endpoint", bus=0):
    return dmar.device_scope(kind, bus, path)


def raw_scope(type_, length, bus, path_bytes):
    return struct.pack("<BBHBB", type_, length, 0, 0, bus) + path_bytes


def reserve(base, end):
    """memmap= for [base, end], widened to whole pages."""
    lo, hi = base & ~0xfff, (end | 0xfff) + 1
    return f"{hi - lo:#x}${lo:#x}"


def honest(rng, pages=None):
    pages = pages or rng.choice([1, 2, 4, 16])
    base = RESERVED_AT + rng.randrange(0, 256) * 0x1000
    return base, base + pages * 0x1000 - 1


# Each kind returns (structures after the DRHD, memmap list, note).
def k_inverted(rng):
    base, end = honest(rng)
    return [dmar.rmrr(end, base, [scope(EDU_RP)])], [reserve(base, end)], "end before base"


def k_zero(rng):
    base = rng.choice([0, RESERVED_AT, 0xe8000, 0x100000]) & ~0xfff
    return [dmar.rmrr(base, base, [scope(EDU_ROOT)])], [], f"zero-sized at {base:#x}"


def k_huge(rng):
    base = rng.choice([0, 0x100000, KERNEL_TEXT]) + rng.randrange(0, 16) * MiB
    size = rng.choice([4, 8, 64]) << 30
    return [dmar.rmrr(base, base + size - 1, [scope(EDU_RP)])], [], f"{size >> 30} GiB over RAM"


def k_beyond_width(rng):
    base = (1 << rng.choice([39, 40, 46, 52, 63])) + rng.randrange(0, 64) * 0x1000
    return [dmar.rmrr(base, base + 0xfff, [scope(EDU_ROOT)])], [], f"at {base:#x}"


def k_unaligned(rng):
    base, end = honest(rng)
    base += rng.choice([0, 0x10, 0x800])
    end -= rng.choice([0, 0x10, 0x800]) if base & 0xfff == 0 else 0
    return [dmar.rmrr(base, end, [scope(EDU_RP)])], [reserve(base, end)], f"[{base:#x}-{end:#x}]"


def k_msi(rng):
    base = 0xfee00000 + rng.randrange(-4, 16) * 0x1000
    return [dmar.rmrr(base, base + rng.choice([0x1000, 0x100000]) - 1, [scope(EDU_ROOT)])], [], \
        f"over the MSI window at {base:#x}"


def k_kernel_text(rng):
    base = KERNEL_TEXT + rng.randrange(0, 32) * 0x1000
    return [dmar.rmrr(base, base + rng.choice([1, 16, 256]) * 0x1000 - 1, [scope(EDU_RP)])], [], \
        "over kernel text"


def k_low_memory(rng):
    end = rng.choice([RAM, RAM // 2, 0xa0000, 64 * MiB]) - 1
    return [dmar.rmrr(0, end, [scope(EDU_RP), scope(EDU_ROOT)])], [], f"0-{end:#x}"


def k_overlapping(rng):
    a0, a1 = honest(rng, 8)
    off = rng.randrange(1, 8) * 0x1000
    b0, b1 = a0 + off, a1 + off
    return ([dmar.rmrr(a0, a1, [scope(EDU_RP)]), dmar.rmrr(b0, b1, [scope(EDU_ROOT)])],
            [reserve(a0, b1)], "two RMRRs overlapping by some pages")


def k_repeated(rng):
    base, end = honest(rng)
    who = [EDU_RP, EDU_ROOT]
    return ([dmar.rmrr(base, end, [scope(who[i % 2])]) for i in range(50)],
            [reserve(base, end)], "the same range 50 times")


def k_truncated_path(rng):
    base, end = honest(rng)
    # A two-hop path cut after the root port: names 00:01.0 as an endpoint.
    return [dmar.rmrr(base, end, [scope([(1, 0)])])], [reserve(base, end)], "path cut short"


def k_zero_length_scope(rng):
    base, end = honest(rng)
    bad = raw_scope(1, 0, 0, bytes([3, 0]))
    return [dmar.rmrr(base, end, [bad, scope(EDU_ROOT)])], [reserve(base, end)], "scope length 0"


def k_scope_past_end(rng):
    base, end = honest(rng)
    bad = raw_scope(1, rng.choice([10, 12, 40, 255]), 0, bytes([3, 0]))
    return [dmar.rmrr(base, end, [scope(EDU_RP), bad])], [reserve(base, end)], \
        "scope runs past the structure"


def k_odd_scope(rng):
    base, end = honest(rng)
    bad = raw_scope(1, 7, 0, bytes([3]))
    return [dmar.rmrr(base, end, [bad])], [reserve(base, end)], "scope of odd length"


def k_missing_device(rng):
    base, end = honest(rng)
    path = rng.choice([[(9, 0)], [(0x1e, 3)], [(1, 0), (5, 0)], [(2, 0), (0, 0)]])
    return [dmar.rmrr(base, end, [scope(path)])], [reserve(base, end)], f"path {path} names nothing"


def k_not_a_bridge(rng):
    base, end = honest(rng)
    return ([dmar.rmrr(base, end, [scope([(3, 0), (0, rng.randrange(0, 8))])])],
            [reserve(base, end)], "path through an endpoint")


def k_console_bridge(rng):
    base, end = honest(rng)
    # The serial console sits behind the LPC/ISA bridge at 00:1f.0.
    return ([dmar.rmrr(base, end, [scope([(0x1f, 0)], kind="bridge")])], [reserve(base, end)],
            "bridge scope on the console's ISA bridge")


def k_unknown_scope(rng):
    base, end = honest(rng)
    bad = raw_scope(rng.choice([0, 6, 9, 0x7f, 0xff]), 8, 0, bytes([3, 0]))
    return [dmar.rmrr(base, end, [bad, scope(EDU_RP)])], [reserve(base, end)], "unknown scope type"


def k_short_structure(rng):
    base, end = honest(rng)
    full = dmar.rmrr(base, end, [scope(EDU_RP)])
    cut = rng.choice([4, 8, 16, 20])
    short = struct.pack("<HH", 1, cut) + full[4:cut]
    return [short, dmar.rmrr(base, end, [scope(EDU_ROOT)])], [reserve(base, end)], \
        f"RMRR of length {cut}"


def k_below_1mib_ram(rng):
    base = rng.choice([0xe8000, 0xf4000, 0x9f000 - 0x1000, 0x80000])
    return [dmar.rmrr(base, base + 0xfff, [scope(EDU_RP)])], [], "legacy range in RAM below 1 MiB"


def k_drhd_bad_scope(rng):
    """QEMU's DRHD with one malformed scope after its IO-APIC's: the scope
    goes, the unit (the only one, INCLUDE_PCI_ALL) must keep translating.
    An honest RMRR of the edu behind the root port shows it does."""
    bad, what = rng.choice([
        (raw_scope(1, 0, 0, b""), "of length 0"),
        (raw_scope(1, 6, 0, b""), "without a path"),
        (raw_scope(1, 7, 0, b"\x00"), "of odd length"),
        (raw_scope(1, 40, 0, b"\x00\x00"), "running past the DRHD")])
    base, end = honest(rng)
    return ([dmar.qemu_drhd([bad]), dmar.rmrr(base, end, [scope(EDU_RP)])],
            [reserve(base, end)], f"DRHD with a device scope {what}")


KINDS = [k_inverted, k_zero, k_huge, k_beyond_width, k_unaligned, k_msi, k_kernel_text,
         k_low_memory, k_overlapping, k_repeated, k_truncated_path, k_zero_length_scope,
         k_scope_past_end, k_odd_scope, k_missing_device, k_not_a_bridge, k_console_bridge,
         k_unknown_scope, k_short_structure, k_below_1mib_ram, k_drhd_bad_scope]


# The DMAR table's host address width is the platform's; each remapping
# unit translates only up to its own MGAW (QEMU's intel-iommu: 39 bits).
WIDE_HAW = 48
QEMU_MGAW = 39


def beyond_mgaw(rng):
    """An RMRR the table's width (HAW 48) allows and QEMU's IOMMU cannot
    translate: the kernel must leave it out for the device, with a line,
    not fail the group's default domain."""
    base = (1 << rng.choice([QEMU_MGAW, 40, 44, WIDE_HAW - 1])) + rng.randrange(0, 64) * 0x1000
    table = dmar.table([dmar.qemu_drhd(), dmar.rmrr(base, base + 0xfff, [scope(EDU_RP)])],
                       haw=WIDE_HAW)
    return table, [], f"at {base:#x}, HAW {WIDE_HAW}, MGAW {QEMU_MGAW}"


def lying_length(rng, n):
    """A table whose header length is shorter than its content (cutting the
    last structure) or longer (zero padding, which reads as length 0)."""
    base, end = honest(rng)
    table = bytearray(dmar.table([dmar.qemu_drhd(), dmar.rmrr(base, end, [scope(EDU_RP)])]))
    if n % 2:
        table = table[:len(table) - rng.choice([2, 8, 20])]
        note = "length cuts the last structure"
    else:
        table += bytes(rng.choice([4, 16, 64]))
        note = "length covers zero padding"
    struct.pack_into("<I", table, 4, len(table))
    table[9] = 0
    table[9] = (-sum(table)) & 0xff
    return bytes(table), [reserve(base, end)], note


def generate(seed=0x524d5252):
    rng = random.Random(seed)
    out = []
    for kind in KINDS:
        for _ in range(TABLES_PER_KIND):
            structures, memmap, note = kind(rng)
            if structures[0][0] != dmar.TYPE_DRHD:     # a kind may bring its own
                structures = [dmar.qemu_drhd()] + structures
            table = dmar.table(structures)
            out.append(Hostile(len(out) + 1, kind.__name__[2:], table, memmap, note))
    for n in range(TABLES_PER_KIND):
        table, memmap, note = lying_length(rng, n)
        out.append(Hostile(len(out) + 1, "lying_length", table, memmap, note))
    # Its own generator, so that adding the kind left the others' tables alone.
    wide = random.Random(seed + 1)
    for _ in range(TABLES_PER_KIND):
        table, memmap, note = beyond_mgaw(wide)
        out.append(Hostile(len(out) + 1, "beyond_mgaw", table, memmap, note))
    return distinct(out)


def distinct(tables):
    """Drop repeats (a kind with few choices can draw the same table twice)."""
    seen, out = set(), []
    for t in tables:
        if (t.table, tuple(t.memmap)) not in seen:
            seen.add((t.table, tuple(t.memmap)))
            out.append(dataclasses.replace(t, id=len(out) + 1))
    return out


def sample(tables):
    seen, picked = set(), []
    for t in tables:
        if t.kind not in seen:
            seen.add(t.kind)
            picked.append(t)
    return picked


def machine(h):
    port = scenario.Port("rp1", 1, 0)
    devices = [scenario.Device("edu1", "edu", 0, 0, "rp1"),
               scenario.Device("edu0", "edu", 3, 0, None),
               scenario.Device("xhci", "qemu-xhci", 0x14, 0, None)]
    sc = scenario.Scenario(f"hostile-{h.id}", f"{h.kind}: {h.note}", RAM,
                           [f"memmap={m}" for m in h.memmap], [port], devices, [])
    scenario.enumerate_buses(sc.ports, sc.devices)
    return sc


RANGE_DROPS = ("dropped:empty-or-inverted", "dropped:beyond-address-width",
               "dropped:interrupt-window")


def drops_case(sc, h, console):
    """The kernel's "RMRR [b-e] dropped:" lines against the table's bytes,
    decoded by workbench/expect.py (not the selftests' rule, which
    rmrr_groups applies): a range the bytes say is unusable must have its
    line, and a range they say is fine must not have one (a range over
    RAM is kept for the host, as Linux 6.12 keeps it)."""
    name = f"{sc.name}/drops_match_the_table_bytes"
    if not console:
        return (name, "fail", "no kernel console", "")
    table = expect.decode(h.table)
    wrong = []
    for r in table.rmrrs:
        if r.base is None or r.end is None:
            continue
        verdict = expect.verdict(r, table)
        line = f"RMRR [{r.base:#x}-{r.end:#x}] dropped: "
        dropped = [l for l in console.splitlines() if line in l]
        if verdict in RANGE_DROPS and not dropped:
            wrong.append(f"{r.base:#x}-{r.end:#x} is {verdict[8:]} but no drop line")
        elif verdict == "kept" and dropped:
            wrong.append(f"{r.base:#x}-{r.end:#x} dropped though its bytes are fine")
    return (name, "fail" if wrong else "pass", "; ".join(wrong), "")


def translating_case(sc, h, console):
    """Where a DRHD lost a scope, its unit must still translate: the edu
    behind the root port gets an IOMMU group, as the kernel logs it."""
    name = f"{sc.name}/unit_keeps_translating"
    if "0000:01:00.0: Adding to iommu group" in console:
        return (name, "pass", "", "")
    return (name, "fail", "0000:01:00.0 was not added to an IOMMU group", "")


def boot(h, kernel, tests_dir, log_root):
    sc = machine(h)
    log_dir = f"{log_root}/{h.id}"
    files = [f"{tests_dir}/{t}" for t in HOSTILE_TESTS]
    res = vm.run(sc, kernel, lane.guest_script(sc, HOSTILE_TESTS), log_dir,
                 test_files=files, timeout=300, table=h.table)
    cases = lane.vm_results(sc, res, HOSTILE_TESTS) + [drops_case(sc, h, res.console)]
    if h.kind == "drhd_bad_scope":
        cases.append(translating_case(sc, h, res.console))
    failed = corpus_run.failure_reason(cases, res)
    if not failed and not res.console.count("Run /init"):
        failed = "never reached init"
    if not failed and not any(c[1] == "pass" for c in corpus_run.test_cases(cases)):
        # Every check of the table skipped: nothing was compared with it.
        failed = "no test case passed (every case skipped)"
    return corpus_run.Outcome(h.id, "fail" if failed else "pass", failed, log_dir,
                              res.elapsed, f"{h.kind}: {h.note}")


def run(tables, kernel, tests_dir, log_root, jobs=2, report=None):
    import concurrent.futures
    report = report or (lambda o: None)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(boot, h, kernel, tests_dir, log_root) for h in tables]
        outcomes = []
        for h, f in zip(tables, futures):
            try:
                o = f.result()
            except Exception as e:      # a broken boot fails its table, not the run
                o = corpus_run.Outcome(h.id, "fail", f"runner error: {e!r}", title=h.kind)
            report(o)
            outcomes.append(o)
    return outcomes


def main(ids=(), sample_only=False, jobs=2, kernel=None, tests_dir=None, seed=0x524d5252):
    kernel = kernel or f"{lane.TOP}/build/bzImage"
    tests_dir = tests_dir or f"{lane.TOP}/build/tests"
    tables = generate(seed)
    if sample_only:
        tables = sample(tables)
    if ids:
        tables = [t for t in tables if t.id in set(ids)]
    print(f"# {len(tables)} malformed DMAR tables (seed {seed:#x})", flush=True)
    outcomes = run(tables, kernel, tests_dir, f"{lane.TOP}/build/logs/hostile", jobs,
                   corpus_run.print_line)
    corpus_run.print_summary(outcomes)
    return 0 if all(o.status == "pass" for o in outcomes) and outcomes else 1
