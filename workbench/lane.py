"""The default test lane: everything `make test` runs, one summary.

  1. the workbench's own unit tests (generator, parsers);
  2. static checks of the series (scripts/check-series.sh: checkpatch
     --strict, sparse and W=1 against the base, selftests -Werror; its
     Documentation through the kernel's Sphinx, check-docs.sh) and make
     deb's packaging path on the test config (deb.sh test); whether Debian
     has a newer linux-source-6.12 is `make check-base`, not the lane's
     business (it needs the network and changes without a commit);
  3. iasl over every scenario's DMAR table;
  4. per scenario, one boot of build/bzImage running the VM tests
     (tests/vm/*.sh and the static kselftests in build/tests), plus the
     KUnit results the kernel printed at boot and the console verdict;
  5. a fixed sample of real firmware DMAR tables (corpus.py), one boot each.

The last line is "N passed, N failed"; skips are listed above it, and a
skip of a test the scenario lists in must_run is a failure.
"""

import concurrent.futures
import dataclasses
import fnmatch
import glob
import os
import subprocess
import sys
import time
import unittest

from . import dmar, expect, iasl, ivrs, scenario, tap, vm

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Run in this order; rmrr_rescan removes and re-adds devices, so it is last.
VM_TESTS = ["dmar_upgrade.sh", "rmrr_groups", "rmrr_report", "rmrr_vfio", "rmrr_iommufd",
            "rmrr_fail_nth", "rmrr_continuity", "rmrr_hotplug", "rmrr_rescan"]
# On QEMU's amd-iommu (iommu_mode "amd") the VT-d tests have no DMAR to
# read: these run instead.
AMD_VM_TESTS = ["amd_ivmd.sh", "amd_hotplug.sh"]
# Files a test needs beside itself in /tests: rmrr_report is the series'
# tools/iommu/rmrr-report/test-in-vm.sh, checking the tool against sysfs.
TEST_FILES = {"rmrr_report": ["rmrr-report"], "l2_qemu.sh": ["rmrr-report"],
              "amd_ivmd.sh": ["ivrs_lib.sh", "edu_dma", "rmrr-report", "vfio_claim"],
              "amd_hotplug.sh": ["ivrs_lib.sh", "edu_dma", "vfio_claim"], "lockdown.sh": ["vfio_claim"]}


class Tally:
    def __init__(self):
        self.cases = []            # (name, status, detail, log)

    def add(self, name, status, detail="", log=""):
        self.cases.append((name, status, detail, log))

    def count(self, status):
        return sum(1 for c in self.cases if c[1] == status)

    @staticmethod
    def test_of(name):
        """The test a result belongs to, whatever boot ran it:
        "hp-dl360p-gen8+pt/kunit.s.c" and "hp-dl360p-gen8/kunit.s.c" are
        one test; so are corpus.12 and corpus.40 (one check per table)."""
        test = name.split("/", 1)[-1]
        if test.startswith(("corpus.", "hostile.")):
            return test.split(".", 1)[0]
        return test

    def distinct(self):
        return len({self.test_of(c[0]) for c in self.cases})

    def boots(self):
        return len({c[0].split("/", 1)[0] for c in self.cases if "/" in c[0]})

    def skips_by_reason(self):
        """[(count, reason, an example case)], most frequent first."""
        by = {}
        for name, status, detail, _ in self.cases:
            if status == "skip":
                n, example = by.get(detail, (0, name))
                by[detail] = (n + 1, example)
        return sorted(((n, r, ex) for r, (n, ex) in by.items()), key=lambda x: (-x[0], x[1]))

    def summary(self):
        """The lines above the last one: what the counts are made of."""
        lines = [f"# {len(self.cases)} results of {self.distinct()} distinct tests "
                 f"({self.boots()} boots; a test that runs in several boots counts once per boot)"]
        for n, reason, example in self.skips_by_reason():
            lines.append(f"# skipped {n}x: {reason or '(no reason given)'} (e.g. {example})")
        return lines


class TallyResult(unittest.TestResult):
    """unittest results as lane cases.  A failing subTest is a failure of
    its own (unittest then reports neither success nor failure for the
    test that holds it, so without addSubTest it would vanish from the
    count), and an unexpected success fails like any other surprise."""

    def __init__(self, tally):
        super().__init__()
        self.tally = tally

    def addSuccess(self, test):
        self.tally.add(f"unit.{test.id()}", "pass")

    def addFailure(self, test, err):
        self.tally.add(f"unit.{test.id()}", "fail", self._exc_info_to_string(err, test))

    addError = addFailure

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.tally.add(f"unit.{subtest.id()}", "fail", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        self.tally.add(f"unit.{test.id()}", "skip", reason)

    def addExpectedFailure(self, test, err):
        self.tally.add(f"unit.{test.id()}", "pass", "expected failure")

    def addUnexpectedSuccess(self, test):
        self.tally.add(f"unit.{test.id()}", "fail", "marked expectedFailure but passed")


def unit_tests(tally):
    suite = unittest.defaultTestLoader.discover(os.path.join(TOP, "workbench/tests"),
                                                top_level_dir=TOP)
    suite.run(TallyResult(tally))


def script_checks(tally, prefix, argv, log_name):
    """One case `prefix.<name>` per "ok   <name>" / "FAIL <name>" line a
    check script prints, and a skip per "SKIP <name>: <reason>" (a check
    that could not look); its output is kept in build/logs/<log_name>."""
    proc = subprocess.run([os.path.join(TOP, argv[0])] + argv[1:], cwd=TOP,
                          capture_output=True, text=True)
    log = os.path.join(TOP, "build/logs", log_name)
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "w") as f:
        f.write(proc.stdout + proc.stderr)
    section, seen = "", 0
    for line in proc.stdout.splitlines():
        if line.startswith("== "):
            section = line[3:].split()[0] + "."
        elif line.startswith(("ok   ", "FAIL ")):
            status = "pass" if line.startswith("ok") else "fail"
            tally.add(f"{prefix}.{section}{line[5:].strip()}", status, line, log)
            seen += 1
        elif line.startswith("SKIP "):
            name, _, why = line[5:].partition(": ")
            tally.add(f"{prefix}.{section}{name.strip()}", "skip", why.strip(), log)
            seen += 1
    mine = [c for c in tally.cases if c[0].startswith(prefix + ".")]
    if proc.returncode and not any(c[1] == "fail" for c in mine):
        tally.add(f"{prefix}.exit_status", "fail", f"{argv[0]} exit status {proc.returncode}", log)
    elif not seen:
        tally.add(f"{prefix}.results", "fail", f"{argv[0]} reported nothing", log)


def static_checks(tally):
    # checkpatch --strict, sparse and W=1 against the base, selftests -Werror
    script_checks(tally, "check", ["scripts/check-series.sh"], "check-series.log")
    # the Documentation of the series through the kernel's Sphinx setup
    script_checks(tally, "docs", ["scripts/check-docs.sh"], "check-docs.log")
    # Whether Debian offers a newer linux-source-6.12 needs the network and
    # changes without a commit: `make check-base`, outside the lane.
    base_warning()
    # make deb's packaging path on the small test config
    script_checks(tally, "deb", ["scripts/deb.sh", "test"], "deb-test.log")


def base_warning():
    """Say (not fail) when build/linux is not the base patches/BASE names."""
    try:
        with open(os.path.join(TOP, "patches/BASE")) as f:
            want = f.read().strip()
        with open(os.path.join(TOP, "build/linux/Makefile")) as f:
            mk = dict(l.split(" = ", 1) for l in f.read().splitlines()[:5] if " = " in l)
        have = f"{mk['VERSION']}.{mk['PATCHLEVEL']}.{mk['SUBLEVEL']}"
    except (OSError, KeyError) as e:
        print(f"# warning: cannot compare the base with patches/BASE: {e}")
        return
    if have != want:
        print(f"# warning: build/linux is Linux {have}, patches/BASE says {want} "
              "(make check-base, make update-base)")


def iasl_checks(tally, scenarios):
    for sc in scenarios:
        problem = iasl.check(ivrs.build(sc) if sc.iommu_mode == "amd" else dmar.build(sc))
        tally.add(f"iasl.{sc.name}", "fail" if problem else "pass", problem or "")


# With CONFIG_DEBUG_KMEMLEAK (the debug lane) scan for leaks after the
# tests; the kernel then reports "kmemleak: N new suspected memory leaks"
# on the console, which fails the run like any other splat.
KMEMLEAK_SCAN = """if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan > /sys/kernel/debug/kmemleak; sleep 1; echo scan > /sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak | head -40
fi"""


# Every boot is a throw-away VM: the tests that remove and rescan PCI
# devices, opt-in on a real host, run here.  A scenario's env overrides.
GUEST_ENV = {"RMRR_RESCAN": "1"}
# The debug lane runs every fail-nth path to the end, in every boot.
DEBUG_ENV = {"RMRR_FAIL_NTH_PATHS": "all"}


def guest_script(sc, tests):
    lines = ["cd /tests"]
    lines += [f"export {k}='{v}'" for k, v in sorted({**GUEST_ENV, **sc.test_env}.items())]
    for t in tests:
        lines += [f'echo "WB-TEST {t}"', f"./{t}", 'echo "WB-RC $?"']
    lines.append(KMEMLEAK_SCAN)
    return "\n".join(lines) + "\n"


def split_sections(output):
    """WB-TEST name ... WB-RC n -> {name: (text, rc or None)}"""
    sections, name, buf = {}, None, []
    for line in output.splitlines():
        if line.startswith("WB-TEST "):
            name, buf = line.split(None, 1)[1].strip(), []
        elif line.startswith("WB-RC ") and name:
            sections[name] = ("\n".join(buf), int(line.split()[1]))
            name = None
        elif name:
            buf.append(line)
    if name:
        sections[name] = ("\n".join(buf), None)
    return sections


def case_status(c, must_run):
    """A TAP case's lane status: a crash fails, and so does a skip of a
    test the boot must run."""
    if c.status == "crash":
        return "fail", f"crashed: {c.reason}"
    if c.status == "skip" and c.name in must_run:
        return "fail", f"skipped on a scenario that must run it: {c.reason}"
    return c.status, c.reason


def vm_results(sc, res, tests):
    """Turn one VM run into test cases."""
    cases = []
    out_log = os.path.join(res.log_dir, "output.log")
    con_log = os.path.join(res.log_dir, "console.log")
    sections = split_sections(res.output)
    for t in tests:
        stem = t.rsplit(".sh", 1)[0]
        text, rc = sections.get(t, ("", None))
        found = tap.parse(text, stem)
        for c in found:
            cases.append((c.name, *case_status(c, sc.must_run), out_log))
        if rc is None:
            cases.append((f"{stem}.completed", "fail", "did not finish", con_log))
        elif rc != 0 and not any(c.status in ("fail", "crash") for c in found):
            cases.append((f"{stem}.exit_status", "fail", f"exit status {rc}", out_log))
        elif not found:
            cases.append((f"{stem}.results", "fail", "no TAP results", out_log))
    for c in tap.parse(res.console, "kunit"):
        cases.append((c.name, *case_status(c, sc.must_run), con_log))
    # KUnit cases can be required too: checked after they are parsed.
    names = {c[0] for c in cases}
    for must in sc.must_run:
        if must not in names:
            cases.append((must, "fail", "listed in must_run but never reported", out_log))
    clean = not res.problems and not res.timed_out and res.status >= 0
    cases.append(("kernel_console_clean", "pass" if clean else "fail",
                   "" if clean else res.verdict(), con_log))
    return [(f"{sc.name}/{n}", s, d, log) for n, s, d, log in cases]


def run_scenario(sc, kernel, tests, log_root, timeout=300):
    files = []
    for t in tests:
        path = os.path.join(TOP, "tests/vm", t) if t.endswith(".sh") else os.path.join(TOP, "build/tests", t)
        files.append(path)
        # Shell helpers come from tests/vm, built programs from build/tests.
        for f in TEST_FILES.get(t, []):
            path = os.path.join(TOP, "tests/vm" if f.endswith(".sh") else "build/tests", f)
            if path not in files:
                files.append(path)
    log_dir = os.path.join(log_root, sc.name)
    os.makedirs(log_dir, exist_ok=True)
    if sc.iommu_mode != "amd":
        # What the table's bytes say, decoded apart from the tool and the
        # kernel: rmrr_report's oracle (workbench/expect.py).
        files.append(expect.write_expectations(dmar.build(sc),
                                               os.path.join(log_dir, "expected-rmrr.txt")))
    res = vm.run(sc, kernel, guest_script(sc, tests), log_dir, test_files=files,
                 timeout=timeout)
    return res, vm_results(sc, res, tests)


def corpus_sample(tally, kernel):
    """One case per table of the fixed sample of real firmware DMAR tables
    (workbench/corpus.py), booted like `python3 -m workbench corpus --sample`."""
    from . import corpus, corpus_run     # imported here: corpus_run imports this module
    if not os.path.exists(os.path.join(corpus.DEFAULT_DIR, "corpus.json")):
        tally.add("corpus.sample", "skip", f"no DMAR corpus at {corpus.DEFAULT_DIR}")
        return
    for o in corpus_run.run_tables(corpus.SAMPLE, kernel=kernel):
        tally.add(f"corpus.{o.id}", o.status, o.detail, o.log_dir)
        if o.status != "skip":
            print(f"# corpus.{o.id}: boot+tests {o.elapsed:.1f}s, {o.detail or 'ok'}", flush=True)


PARTS = ("unit", "static", "iasl", "vm", "corpus", "hostile")


def parse_args(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="workbench lane")
    ap.add_argument("--kernel", default=os.path.join(TOP, "build/bzImage"))
    ap.add_argument("--log-dir", default=os.path.join(TOP, "build/logs/lane"))
    ap.add_argument("--vm-only", action="store_true",
                    help="only the scenario boots: no unit tests, static checks, iasl, "
                         "corpus or malformed-table samples (--parts vm)")
    ap.add_argument("--parts", default=",".join(PARTS),
                    help=f"comma-separated parts of the lane to run (default all: {','.join(PARTS)})")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per boot")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="set in the guest of every scenario boot, over the scenario's own "
                         "(e.g. RMRR_TEST_BREAK_KMSG=1 to see the fault checks fail)")
    ap.add_argument("--boot", action="append", default=[], metavar="GLOB",
                    help="only the scenario boots whose name matches (fnmatch; repeatable), "
                         "e.g. 'hp-dl360p-gen8+preserve' or 'rmrr-shapes*'")
    ap.add_argument("--debug", action="store_true",
                    help="the kernel is the debug build: a skip of a test a scenario "
                         "lists in debug_must_run fails too")
    args = ap.parse_args(list(argv))
    args.parts = set(args.parts.split(","))
    if args.parts - set(PARTS):
        ap.error(f"unknown part(s) {', '.join(sorted(args.parts - set(PARTS)))}")
    if args.vm_only:
        args.parts = {"vm"}
    return args


def hostile_sample(tally, kernel):
    """One malformed DMAR table per kind (workbench/hostile.py)."""
    from . import hostile
    tables = hostile.sample(hostile.generate())
    for o in hostile.run(tables, kernel, os.path.join(TOP, "build/tests"),
                         os.path.join(TOP, "build/logs/hostile")):
        tally.add(f"hostile.{o.id}.{o.title.split(':')[0]}", o.status, o.detail, o.log_dir)


def default_tests(boot):
    return AMD_VM_TESTS if boot.iommu_mode == "amd" else VM_TESTS


def kernel_for(boot, default, debug):
    """The image a boot runs: the lane's, or the variant's own build
    (kernel = "compat": build/bzImage-compat).  None for a variant of
    another build on the debug lane, which has only the debug kernel."""
    if not boot.kernel:
        return default
    if debug:
        return None
    return os.path.join(TOP, f"build/bzImage-{boot.kernel}")


def main(argv=()):
    args = parse_args(argv)
    start = time.monotonic()
    kernel = args.kernel
    log_root = args.log_dir
    tally = Tally()
    scenarios = []
    for path in sorted(glob.glob(os.path.join(TOP, "scenarios/*.toml"))):
        try:
            scenarios.append(scenario.load(path))
        except (scenario.ScenarioError, ValueError, KeyError) as e:
            # One broken file fails the lane by name; the others still run.
            tally.add(f"scenario.{os.path.basename(path)}", "fail", f"{type(e).__name__}: {e}")
    extra_env = dict(e.split("=", 1) for e in args.env)

    if "unit" in args.parts:
        unit_tests(tally)
    if "static" in args.parts:
        static_checks(tally)
    if "iasl" in args.parts:
        iasl_checks(tally, scenarios)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        boots = [b for sc in scenarios for b in [sc] + sc.variants]
        if args.boot:
            boots = [b for b in boots if any(fnmatch.fnmatch(b.name, g) for g in args.boot)]
        if args.debug:
            boots = [dataclasses.replace(b, must_run=b.must_run + b.debug_must_run,
                                         test_env={**b.test_env, **DEBUG_ENV})
                     for b in boots]
        if extra_env:
            boots = [dataclasses.replace(b, test_env={**b.test_env, **extra_env}) for b in boots]
        jobs = {b.name: pool.submit(run_scenario, b, kernel_for(b, kernel, args.debug),
                                    b.tests or default_tests(b), log_root, args.timeout)
                for b in boots if kernel_for(b, kernel, args.debug) and "vm" in args.parts}
        for name in sorted(jobs):
            res, cases = jobs[name].result()
            for c in cases:
                tally.add(*c)
            print(f"# {name}: boot+tests {res.elapsed:.1f}s, {res.verdict()}", flush=True)
    if "corpus" in args.parts:
        corpus_sample(tally, kernel)
    if "hostile" in args.parts:
        hostile_sample(tally, kernel)

    os.makedirs(log_root, exist_ok=True)
    with open(os.path.join(log_root, "cases.txt"), "w") as f:
        f.writelines(f"{st:4} {n}{': ' + d.strip().splitlines()[-1] if d.strip() else ''}\n"
                     for n, st, d, _ in tally.cases)
    for line in tally.summary():
        print(line)
    for name, status, detail, log in tally.cases:
        if status == "fail":
            first = (detail.strip().splitlines() or [""])[-1]
            print(f"FAIL {name}: {first}" + (f" (see {os.path.relpath(log, TOP)})" if log else ""))
    print(f"# lane took {time.monotonic() - start:.0f}s; {tally.count('skip')} skipped; "
          f"every result in {os.path.relpath(os.path.join(log_root, 'cases.txt'), TOP)}")
    print(f"{tally.count('pass')} passed, {tally.count('fail')} failed")
    return 1 if tally.count("fail") or not tally.count("pass") else 0
