import os
import unittest

from workbench import iasl, lane, tap, vm

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def data(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


class Tap(unittest.TestCase):
    def test_kselftest_harness_output(self):
        # Recorded: rmrr_vfio on hp-dl360p-gen8+preserve, RMRR_TEST_BREAK_KMSG=1.
        cases = tap.parse(data("rmrr_vfio-kmsg-unreadable.tap"), "rmrr_vfio")
        self.assertEqual(len(cases), 14)
        self.assertEqual((cases[0].name, cases[0].status, cases[0].reason),
                         ("rmrr_vfio.vfio_rmrr.set_container_denied", "skip",
                          "group 5 policy is preserve, not deny"))
        self.assertEqual((cases[3].name, cases[3].status),
                         ("rmrr_vfio.preserve.iova_ranges_and_direct_cap", "fail"))
        self.assertEqual(cases[3].reason.split(" | ")[0],
                         "rmrr_vfio.c:287:iova_ranges_and_direct_cap:Expected 0 (0) <= self->kmsg (-1)")
        self.assertEqual([c.status for c in cases].count("skip"), 4)

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
        # Recorded: hp-dl360p-gen8 on a kernel whose direct-share.c was
        # planted with a bug (relaxable ranges counted as shared).
        cases = tap.parse(data("kunit-console-failure.log"), "kunit")
        self.assertEqual(len(cases), 12)
        failed = [c.name for c in cases if c.status == "fail"]
        self.assertEqual(failed, ["kunit.iommu-direct-share.direct_share_relaxable_only",
                                  "kunit.iommu-direct-share.direct_share_every_probe_order",
                                  "kunit.iommu-direct-share.direct_share_random_vs_brute_force"])
        self.assertIn("EXPECTATION FAILED at ../linux/drivers/iommu/direct-share-test.c:28",
                      cases[5].reason)


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


class RecordedRuns(unittest.TestCase):
    """TAP recorded from real lane boots (build/logs/<boot>/output.log),
    not written by hand: the parser must read what the tests print."""

    def test_unreadable_kernel_log_fails_every_iommufd_case(self):
        # hp-dl360p-gen8+preserve with RMRR_TEST_BREAK_KMSG=1 (patch 0042).
        cases = tap.parse(data("rmrr_iommufd-kmsg-unreadable.tap"), "rmrr_iommufd")
        self.assertEqual(len(cases), 8)
        self.assertEqual({c.status for c in cases}, {"fail"})
        self.assertIn("rmrr_iommufd.iommufd_preserve.dma_reads_rmrr_through_hwpt",
                      [c.name for c in cases])
        self.assertTrue(all("kmsg" in c.reason for c in cases), [c.reason for c in cases])

    def test_run_killed_by_the_boot_timeout_is_a_crash_and_a_short_plan(self):
        # hp-dl360p-gen8+sm-preserve before patch 0045, with a 30 ms delay
        # in VT-d's scalable-mode attach: two cases fault, the third never
        # ends before the boot's 300 s timeout.
        cases = tap.parse(data("rmrr_continuity-sm-window-killed.tap"), "rmrr_continuity")
        self.assertEqual([(c.name, c.status) for c in cases], [
            ("rmrr_continuity.continuity.type1_claim_release.dma_never_faults", "fail"),
            ("rmrr_continuity.continuity.iommufd_claim_release.dma_never_faults", "fail"),
            ("rmrr_continuity.continuity.type1_back_to_back.dma_never_faults", "crash"),
            ("rmrr_continuity.plan", "fail"),
        ])
        self.assertIn("kmsg_find(kmsg, DMAR_FAULT", cases[0].reason)
        self.assertIn("plan 1..4 but 2 result(s)", cases[3].reason)

    def test_kunit_suite_from_a_real_console(self):
        # hp-dl360p-gen8's console: twelve cases of one suite, all passed.
        cases = tap.parse(data("kunit-console-pass.log"), "kunit")
        self.assertEqual(len(cases), 12)
        self.assertEqual({c.status for c in cases}, {"pass"})
        self.assertEqual(cases[0].name, "kunit.iommu-direct-share.direct_share_chain")

    def test_kunit_suite_cut_by_a_panic_fails_its_plan(self):
        # The same console as a panic after case 7 leaves it: 1..12, 7 results.
        lines = data("kunit-console-pass.log").splitlines()
        cut = "\n".join(lines[:next(i for i, l in enumerate(lines) if "ok 8 " in l)])
        cases = tap.parse(cut, "kunit")
        self.assertEqual(len([c for c in cases if c.status == "pass"]), 7)
        plan = [c for c in cases if c.name.endswith(".plan")]
        self.assertEqual([(c.name, c.status) for c in plan],
                         [("kunit.iommu-direct-share.plan", "fail"), ("kunit.plan", "fail")])

    def test_fixture_variants_are_named_fixture_variant_test(self):
        cases = tap.parse(data("rmrr_continuity-kmsg-unreadable.tap"), "rmrr_continuity")
        self.assertEqual([c.name for c in cases], [
            "rmrr_continuity.continuity.type1_claim_release.dma_never_faults",
            "rmrr_continuity.continuity.iommufd_claim_release.dma_never_faults",
            "rmrr_continuity.continuity.type1_back_to_back.dma_never_faults",
            "rmrr_continuity.continuity.iommufd_back_to_back.dma_never_faults",
        ])
        self.assertEqual(cases[0].reason, "rmrr_vfio_utils.h:500:dma_never_faults:Expected 0 (0) "
                         "<= kmsg (-1) | rmrr_vfio_utils.h:500:dma_never_faults:no kernel log: "
                         "fault checks would see none")


class Console(unittest.TestCase):
    def test_reports_that_fail_a_run(self):
        bad = vm.kernel_problems(data("kunit-console-pass.log") + "\n[    3.1] WARNING: CPU: 0 PID: 1 at x.c:1\n")
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
