"""The fixes series on its own: the malformed DMAR tables it is about,
booted on one kernel, judged only by what those fixes promise.

  python3 -m workbench fixes-check --kernel K [--label NAME]

For each kind of malformed device scope or structure header in the
hostile generator (the lane's one table per kind), and for an endpoint
scope that names a bridge, the kernel must reach
init without a splat and keep translating: some device is added to an
IOMMU group, and for a DRHD that lost a scope, the edu behind its root
port.  No selftest runs (a kernel with only the fixes has none of the
feature), so the verdict comes from the console alone.  make
check-bisect runs it on the base kernel, where it is expected to fail
(that is what the fixes fix), and on the last patch of the fixes series,
where it must pass.
"""

from . import dmar, hostile, lane, vm

# The kinds the fixes series is about: device scopes and structure
# headers that do not fit; the RMRR range rules belong to the feature.
KINDS = ("truncated_path", "zero_length_scope", "scope_past_end", "odd_scope",
         "not_a_bridge", "unknown_scope", "short_structure", "drhd_bad_scope",
         "lying_length")
TIMEOUT = 90          # a TCG boot takes about 4 s; a hang is what some tables did


def verdict(h, res):
    """'' when the boot kept the promise, else why not."""
    if res.timed_out:
        return "hung (no shell within %d s)" % TIMEOUT
    if res.problems:
        return "kernel reported: " + res.problems[0].strip()
    if "Run /init" not in res.console:
        return "never reached init"
    if "Adding to iommu group" not in res.console:
        return "no device was added to an IOMMU group (translation off)"
    if h.kind == "drhd_bad_scope" and "0000:01:00.0: Adding to iommu group" not in res.console:
        return "the unit stopped translating 01:00.0"
    return ""


def endpoint_scope_on_a_bridge():
    """An RMRR whose endpoint scope names the root port 00:01.0, a bridge:
    the scope's type contradicts its device (the generator has no such
    kind; its tables stay as they are)."""
    base, end = hostile.RESERVED_AT, hostile.RESERVED_AT + 0xfff
    table = dmar.table([dmar.qemu_drhd(),
                        dmar.rmrr(base, end, [hostile.scope([(1, 0)]), hostile.scope(hostile.EDU_RP)])])
    return hostile.Hostile(1000, "endpoint_on_bridge", table, [hostile.reserve(base, end)],
                           "endpoint scope naming a root port")


def main(kernel, label="kernel", seed=0x524d5252):
    tables = [t for t in hostile.sample(hostile.generate(seed)) if t.kind in KINDS]
    tables.append(endpoint_scope_on_a_bridge())
    failed = 0
    for h in tables:
        res = vm.run(hostile.machine(h), kernel, "true\n",
                     f"{lane.TOP}/build/logs/fixes-check/{label}/{h.id}",
                     timeout=TIMEOUT, table=h.table)
        why = verdict(h, res)
        failed += bool(why)
        print(f"{'FAIL' if why else 'ok  '} {label} {h.kind}: {h.note}" + (f": {why}" if why else ""),
              flush=True)
    print(f"# {label}: {len(tables) - failed} of {len(tables)} kept the promise", flush=True)
    return 1 if failed else 0
