"""Boot one VM per real firmware DMAR table and run the RMRR selftests.

  python3 -m workbench corpus [--sample] [--jobs 2] [IDs...]

Each table becomes a scenario (corpus.py) and boots like a lane scenario,
with the read-only tests only: tests/vm/dmar_upgrade.sh (the kernel runs on
the table, byte for byte), rmrr_groups, and rmrr_report (rmrr-report's
verdicts, groups and ranges against what the kernel made of the table,
tools/iommu/rmrr-report/test-in-vm.sh).  The tests that bind devices
to VFIO or rescan them expect a known device, so they stay with the
lane's own scenarios.  A table passes when every case passes or skips for
a reason the test gives (no shared RMRR, ...), the kernel console is clean
and the guest's memory map has RAM under every RMRR.  A table the
converter cannot place is SKIPPED with its reason and counts neither way.
The last line is "N passed, N failed".
"""

import concurrent.futures
import dataclasses
import os
import re
import sys

from . import corpus, dmar, expect, lane, vm

TOP = lane.TOP
CORPUS_TESTS = ["dmar_upgrade.sh", "rmrr_groups", "rmrr_report"]
LOG_ROOT = os.path.join(TOP, "build/logs/corpus")


@dataclasses.dataclass
class Outcome:
    id: int
    status: str           # pass | fail | skip
    detail: str           # first failing case, console problem or skip reason
    log_dir: str = ""
    elapsed: float = 0.0
    title: str = ""


def title(entry):
    return f"{entry['category']}: {entry['model']}"


def test_files(tests_dir):
    files = []
    for t in CORPUS_TESTS:
        files.append(os.path.join(TOP, "tests/vm", t) if t.endswith(".sh")
                     else os.path.join(tests_dir, t))
        files += [os.path.join(tests_dir, f) for f in lane.TEST_FILES.get(t, [])]
    return files


def failure_reason(cases, res):
    """The first failing test case, and what the kernel console reported
    (a WARN usually explains the failing case, so both are given)."""
    failing = [c for c in cases if c[1] == "fail" and not c[0].endswith("/kernel_console_clean")]
    words = []
    if failing:
        name, _, detail, _ = failing[0]
        last = (detail.strip().splitlines() or [""])[-1] or harness_message(res.output, name)
        words.append(name.split("/", 1)[-1] + (f" ({last})" if last else ""))
    if res.timed_out or res.status < 0 or res.problems:
        words.append(console_verdict(res))
    return "; ".join(words)


# Cases every boot adds, whatever table it boots: the console and memory
# checks, and the KUnit suite the kernel runs at boot (it tests the sharing
# rule, not this table).  They pass without the table being looked at, so
# they cannot show that anything was tested.
BOOT_CHECKS = ("kernel_console_clean", "rmrrs_in_guest_ram",
               # hostile.py's host-side check of the drop lines: it passes
               # on a table with nothing to drop, so it proves no test ran
               "drops_match_the_table_bytes")


def test_cases(cases):
    """The cases the table's test programs reported, without the boot's own."""
    def own(name):
        case = name.rsplit("/", 1)[-1]
        return case not in BOOT_CHECKS and not case.startswith("kunit.")
    return [c for c in cases if own(c[0])]


# kselftest_harness.h reports a failed expectation as "# file.c:LINE:test:message".
HARNESS_LINE = re.compile(r"^# [\w.-]+\.c:\d+:(\w+):(.*)$")


def harness_message(output, case):
    """The harness's first message about a failed case, which TAP itself
    does not carry: the failed expectation and the TH_LOG line after it."""
    test = case.rsplit(".", 1)[-1]
    said = []
    for line in output.splitlines():
        m = HARNESS_LINE.match(line.strip())
        if m and m.group(1) == test:
            said.append(m.group(2).strip())
            if len(said) == 2:
                break
    return ": ".join(said)


def console_verdict(res):
    """vm.Result.verdict() without the console timestamp, so equal problems
    on different tables read the same."""
    return re.sub(r"\[\s*\d+\.\d+\]\s*", "", res.verdict())


E820_USABLE = re.compile(r"BIOS-e820: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\] usable")


def rmrrs_outside_ram(sc, console):
    """RMRRs (above the legacy first MiB) that the firmware's memory map
    does not show as RAM: memmap= would still reserve them, so the tests
    could pass on a range no memory backs (q35 with -m of 0xb0000000 or
    more, say).  Returns them as text, empty when all are inside."""
    usable = [(int(a, 16), int(b, 16)) for a, b in E820_USABLE.findall(console)]
    outside = [r for r in sc.rmrrs if not r.dangling and r.base >= corpus.LEGACY_TOP
               and not any(a <= r.base and r.end <= b for a, b in usable)]
    return ", ".join(f"{r.base:#x}-{r.end:#x}" for r in outside)


def ram_case(sc, res):
    name = f"{sc.name}/rmrrs_in_guest_ram"
    if not res.console:
        return (name, "fail", "no kernel console", "")
    outside = rmrrs_outside_ram(sc, res.console)
    return (name, "fail", f"not in guest RAM: {outside}", "") if outside else (name, "pass", "", "")


def boot(entry, sc, kernel, tests_dir, log_root, timeout):
    log_dir = os.path.join(log_root, str(entry["id"]))
    os.makedirs(log_dir, exist_ok=True)
    write_scenario_notes(sc, os.path.join(log_dir, "scenario.txt"))
    table = dmar.build(sc)
    files = test_files(tests_dir) + [
        expect.write_expectations(table, os.path.join(log_dir, "expected-rmrr.txt"))]
    res = vm.run(sc, kernel, lane.guest_script(sc, CORPUS_TESTS), log_dir,
                 test_files=files, timeout=timeout, table=table)
    cases = lane.vm_results(sc, res, CORPUS_TESTS) + [ram_case(sc, res)]
    with open(os.path.join(log_dir, "cases.txt"), "w") as f:
        f.writelines(f"{s:4} {n}{': ' + d if d else ''}\n" for n, s, d, _ in cases)
    failed = failure_reason(cases, res)
    if not failed and not any(c[1] == "pass" for c in test_cases(cases)):
        failed = "no test case passed (every case skipped)"
    return Outcome(entry["id"], "fail" if failed else "pass", failed, log_dir,
                   res.elapsed, title(entry))


def write_scenario_notes(sc, path):
    """What was booted, for whoever reads a failing table's logs."""
    lines = [sc.description, f"memory {sc.memory >> 20} MiB"]
    lines += [f"port {p.name} 00:{p.dev:02x}.{p.fn} -> bus {p.bus:02x}" for p in sc.ports]
    lines += [f"device {d.bdf} {d.model} ({d.label})" for d in sc.devices]
    for r in sc.rmrrs:
        scopes = ", ".join(s.describe() for s in r.scopes)
        lines.append(f"rmrr {r.base:#x}-{r.end:#x}{' dangling' if r.dangling else ''}: {scopes}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run_tables(ids, corpus_dir=corpus.DEFAULT_DIR, kernel=None, tests_dir=None,
               jobs=2, log_root=LOG_ROOT, report=None, timeout=300):
    """Convert and boot the tables `ids`, `jobs` VMs at a time; Outcomes in id order.
    `report` sees each Outcome as soon as it is known."""
    kernel = kernel or os.path.join(TOP, "build/bzImage")
    tests_dir = tests_dir or os.path.join(TOP, "build/tests")
    report = report or (lambda outcome: None)
    entries = corpus.by_id(corpus.load(corpus_dir))
    outcomes, jobs_by_id = {}, {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for i in ids:
            entry = entries.get(i)
            if entry is None:
                outcomes[i] = Outcome(i, "fail", f"no table {i} in {corpus_dir}")
                report(outcomes[i])
                continue
            sc = corpus.convert(entry)
            if isinstance(sc, str):
                outcomes[i] = Outcome(i, "skip", sc, title=title(entry))
                report(outcomes[i])
                continue
            jobs_by_id[i] = pool.submit(boot, entry, sc, kernel, tests_dir, log_root, timeout)
        for i, job in jobs_by_id.items():
            try:
                outcomes[i] = job.result()
            except Exception as e:     # a broken boot fails its table, not the run
                outcomes[i] = Outcome(i, "fail", f"runner error: {e!r}", title=title(entries[i]))
            report(outcomes[i])
    return [outcomes[i] for i in ids]


def print_line(o):
    word = {"pass": "ok     ", "fail": "FAIL   ", "skip": "SKIPPED"}[o.status]
    timing = f" ({o.elapsed:.1f}s)" if o.elapsed else ""
    why = f": {o.detail}" if o.detail else ""
    print(f"{word} {o.id:>3} {o.title}{timing}{why}", flush=True)


def print_summary(outcomes):
    failed = [o for o in outcomes if o.status == "fail"]
    skipped = [o for o in outcomes if o.status == "skip"]
    if failed:
        print(f"\nFailing tables ({len(failed)}):")
        for o in failed:
            where = f" [{os.path.relpath(o.log_dir, os.getcwd())}]" if o.log_dir else ""
            print(f"FAIL {o.id}: {o.detail}{where}")
    if skipped:
        print(f"\nSkipped tables ({len(skipped)}):")
        for o in skipped:
            print(f"SKIPPED {o.id}: {o.detail}")
    passed = sum(o.status == "pass" for o in outcomes)
    print(f"{passed} passed, {len(failed)} failed")


def main(ids, sample=False, jobs=2, kernel=None, tests_dir=None, corpus_dir=corpus.DEFAULT_DIR,
         log_root=LOG_ROOT, timeout=300):
    if not os.path.exists(os.path.join(corpus_dir, "corpus.json")):
        print(f"no DMAR corpus at {corpus_dir} (set WB_DMAR_CORPUS)", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    if not ids:
        ids = list(corpus.SAMPLE) if sample else sorted(corpus.by_id(corpus.load(corpus_dir)))
    outcomes = run_tables(ids, corpus_dir, kernel, tests_dir, jobs, log_root,
                          report=print_line, timeout=timeout)
    print_summary(outcomes)
    failed = sum(o.status == "fail" for o in outcomes)
    return 1 if failed or not any(o.status == "pass" for o in outcomes) else 0
