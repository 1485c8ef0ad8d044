import os
import unittest

from workbench import iasl, lane, tap, vm

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def data(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


class Tap(unittest.TestCase):
    def test_kselftest_harness_output(self):
        cases = tap.parse(data("kselftest.tap"), "rmrr_vfio")
        self.assertEqual([(c.name, c.status) for c in cases], [
            ("rmrr_vfio.vfio_rmrr.set_container_refused", "pass"),
            ("rmrr_vfio.vfio_edu.dma_round_trip", "skip"),
            ("rmrr_vfio.vfio_edu.unmapped_iova_faults", "fail"),
        ])
        self.assertEqual(cases[1].reason, "no edu device without direct regions")
        self.assertEqual(cases[2].reason,
                         "rmrr_vfio.c:300:unmapped_iova_faults:Expected kmsg_find(...) (0) == true")

    def test_failure_reason_is_the_cases_own_diagnostics(self):
        text = "\n".join([
            "#  RUN           slow.a ...",
            "# a: 12 DMAs",
            "#            OK  slow.a",
            "ok 1 slow.a",
            "#  RUN           slow.b ...",
            "# rmrr_vfio.c:9:b:Expected 0 (0) == ret (-22)",
            "# rmrr_vfio.c:9:b:claim 3",
            "# b: Test failed",
            "#          FAIL  slow.b",
            "not ok 2 slow.b",
        ])
        a, b = tap.parse(text, "t")
        self.assertEqual(a.reason, "")
        self.assertEqual(b.reason, "rmrr_vfio.c:9:b:Expected 0 (0) == ret (-22) | rmrr_vfio.c:9:b:claim 3")

    def test_kunit_on_the_console_counts_leaves_only(self):
        cases = tap.parse(data("kunit-console.log"), "kunit")
        self.assertEqual([(c.name, c.status) for c in cases], [
            ("kunit.rmrr_share.transitive", "pass"),
            ("kunit.rmrr_share.relaxable_only", "fail"),
            ("kunit.other.case", "skip"),
        ])


    def test_short_plan_fails(self):
        cases = tap.parse("TAP version 13\n1..3\nok 1 a\nok 2 b\n", "t")
        self.assertEqual([(c.name, c.status) for c in cases],
                         [("t.a", "pass"), ("t.b", "pass"), ("t.plan", "fail")])
        self.assertIn("plan 1..3 but 2", cases[2].reason)

    def test_short_nested_plan_fails_under_its_suite(self):
        text = "\n".join(["KTAP version 1", "1..1", "    KTAP version 1", "    # Subtest: s",
                          "    1..2", "    ok 1 x", "ok 1 s"])
        self.assertEqual([(c.name, c.status) for c in tap.parse(text, "kunit")],
                         [("kunit.s.x", "pass"), ("kunit.s.plan", "fail")])

    def test_case_without_result_is_a_crash(self):
        text = "1..2\n#  RUN           f.a ...\n#            OK  f.a\nok 1 f.a\n#  RUN           f.b ...\n"
        cases = tap.parse(text, "t")
        self.assertEqual([(c.name, c.status) for c in cases],
                         [("t.f.a", "pass"), ("t.f.b", "crash"), ("t.plan", "fail")])

    def test_whole_binary_skipped(self):
        cases = tap.parse("TAP version 13\n1..0 # SKIP set RMRR_RESCAN=1\n", "rmrr_rescan")
        self.assertEqual([(c.name, c.status, c.reason) for c in cases],
                         [("rmrr_rescan.all", "skip", "set RMRR_RESCAN=1")])


class Console(unittest.TestCase):
    def test_reports_that_fail_a_run(self):
        bad = vm.kernel_problems(data("kunit-console.log") + "\n[    3.1] WARNING: CPU: 0 PID: 1 at x.c:1\n")
        self.assertEqual(len(bad), 1)
        for line in ("BUG: kernel NULL pointer dereference", "Kernel panic - not syncing",
                     "======== WARNING: possible circular locking dependency detected",
                     "BUG: KASAN: slab-use-after-free in foo"):
            self.assertTrue(vm.kernel_problems(line), line)

    def test_expected_warnings_do_not_fail_a_run(self):
        self.assertFalse(vm.kernel_problems(
            "vfio-pci 0000:03:00.0: Firmware has requested this device have a 1:1 IOMMU mapping, "
            "rejecting configuring the device without a 1:1 mapping. Contact your platform vendor.\n"
            "DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x20000000 "
            "[fault reason 0x06] PTE Read access is not set"))


class Lane(unittest.TestCase):
    def test_sections_and_exit_status(self):
        out = "WB-TEST a\nok 1 x\nWB-RC 0\nWB-TEST b\nnot ok 1 y\nWB-RC 1\nWB-TEST c\nok 1 z\n"
        s = lane.split_sections(out)
        self.assertEqual(s["a"], ("ok 1 x", 0))
        self.assertEqual(s["b"], ("not ok 1 y", 1))
        self.assertEqual(s["c"], ("ok 1 z", None))


class Iasl(unittest.TestCase):
    def test_corrupt_scope_length_is_caught(self):
        from workbench import dmar
        good = dmar.table([dmar.qemu_drhd(), dmar.rmrr(0x1000000, 0x1000fff,
                           [dmar.device_scope("endpoint", 0, [(3, 0)])])])
        self.assertIsNone(iasl.check(good))
        bad = bytearray(good)
        bad[48 + 24 + 24 + 1] = 0          # RMRR's first scope: length 0
        bad[9] = (bad[9] + 0x0a) & 0xff    # keep the checksum valid
        self.assertIsNotNone(iasl.check(bytes(bad)))


class ScriptChecks(unittest.TestCase):
    """lane.script_checks: a check script's ok/FAIL lines become cases,
    and a script that fails without saying what still fails the lane."""

    def run_script(self, body):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "check.sh")
            with open(path, "w") as f:
                f.write("#!/bin/sh\n" + body)
            os.chmod(path, 0o755)
            tally = lane.Tally()
            lane.script_checks(tally, "t", [path], os.path.join(tmp, "log"))
            return {name: status for name, status, _, _ in tally.cases}

    def test_lines_become_cases_under_their_section(self):
        cases = self.run_script('echo "== sec one"; echo "ok   a"; echo "FAIL b"; exit 1\n')
        self.assertEqual(cases, {"t.sec.a": "pass", "t.sec.b": "fail"})

    def test_silent_failure_fails(self):
        self.assertEqual(self.run_script("exit 3\n"), {"t.exit_status": "fail"})

    def test_skip_lines_are_skips_with_their_reason(self):
        cases = self.run_script('echo "ok   a"; echo "SKIP b.txt: nobody renders it"\n')
        self.assertEqual(cases, {"t.a": "pass", "t.b.txt": "skip"})

    def test_nothing_reported_fails(self):
        self.assertEqual(self.run_script("exit 0\n"), {"t.results": "fail"})


class UnitResults(unittest.TestCase):
    """lane.TallyResult: every unittest outcome reaches the count."""

    def run_cases(self, cls):
        tally = lane.Tally()
        unittest.defaultTestLoader.loadTestsFromTestCase(cls).run(lane.TallyResult(tally))
        return sorted((name.rsplit(".", 1)[-1], status) for name, status, _, _ in tally.cases)

    def test_failing_subtest_is_a_failure(self):
        class T(unittest.TestCase):
            def test_sub(self):
                for i in (1, 2):
                    with self.subTest(i=i):
                        self.assertEqual(i, 1)
        got = self.run_cases(T)
        self.assertEqual([s for _, s in got], ["fail"], got)
        self.assertIn("(i=2)", got[0][0])

    def test_passing_subtests_pass_once(self):
        class T(unittest.TestCase):
            def test_sub(self):
                for i in (1, 2):
                    with self.subTest(i=i):
                        self.assertTrue(i)
        self.assertEqual(self.run_cases(T), [("test_sub", "pass")])

    def test_unexpected_success_fails(self):
        class T(unittest.TestCase):
            @unittest.expectedFailure
            def test_x(self):
                pass
        self.assertEqual(self.run_cases(T), [("test_x", "fail")])


class Summary(unittest.TestCase):
    def test_distinct_tests_and_skips_by_reason(self):
        t = lane.Tally()
        for boot in ("a", "a+pt", "b"):
            t.add(f"{boot}/kunit.s.c", "pass")
            t.add(f"{boot}/rmrr_vfio.f.x", "skip", "no edu device")
        t.add("corpus.3", "pass")
        t.add("corpus.9", "skip", "no RMRR")
        t.add("unit.x", "pass")
        self.assertEqual(t.distinct(), 4)
        self.assertEqual(t.boots(), 3)
        lines = t.summary()
        self.assertIn("9 results of 4 distinct tests (3 boots", lines[0])
        self.assertTrue(lines[1].startswith("# skipped 3x: no edu device"), lines)
        self.assertTrue(lines[2].startswith("# skipped 1x: no RMRR"), lines)
