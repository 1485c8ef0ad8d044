"""corpus.py: real firmware DMAR tables turned into scenarios (no VM).

The corpus is read where the workbench reads it at test time
(../shared/dmar-corpus or $WB_DMAR_CORPUS); without it these tests skip.
"""

import os
import unittest

from workbench import corpus, corpus_run, dmar, iasl, qemu
from workbench.tests.test_scenario import decode

HAVE_CORPUS = os.path.exists(os.path.join(corpus.DEFAULT_DIR, "corpus.json"))
MIB = 1 << 20


def ports_of(sc):
    return [(p.bdf, p.bus) for p in sc.ports]


def devices_of(sc):
    return [(d.bdf, d.model) for d in sc.devices]


def rmrrs_of(sc):
    return [(r.base, r.end, r.dangling, [(s.type, s.bus, s.path) for s in r.scopes])
            for r in sc.rmrrs]


def endpoint(bus, *path):
    return ("endpoint", bus, list(path))


@unittest.skipUnless(HAVE_CORPUS, f"no DMAR corpus at {corpus.DEFAULT_DIR}")
class RealTables(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.entries = corpus.by_id(corpus.load())

    def convert(self, table_id):
        sc = corpus.convert(self.entries[table_id])
        self.assertNotIsInstance(sc, str, f"table {table_id} skipped: {sc}")
        return sc

    def test_hp_server_multi_hop_paths(self):
        # HP ProLiant DL360 G7: devices behind root ports 01.0, 03.0, 09.0
        # and 1c.4, named by two-hop paths; RMRRs at 0xdf6.., above MMCONFIG.
        sc = self.convert(6)
        self.assertIn("moved down by 0xd0000000", sc.description)
        self.assertEqual(sc.memory, 512 * MIB)
        # 1c.0 is the function 0 the 1c.4 port needs; it takes bus 4.
        self.assertEqual(ports_of(sc), [("00:01.0", 1), ("00:03.0", 2), ("00:09.0", 3),
                                        ("00:1c.0", 4), ("00:1c.4", 5)])
        usb = "ich9-usb-ehci1"
        self.assertEqual(devices_of(sc), [
            ("00:1d.0", usb), ("00:1d.1", usb), ("00:1d.2", usb), ("00:1d.3", usb),
            ("00:1d.7", usb), ("01:00.0", "edu"), ("02:00.0", "edu"), ("02:00.1", "edu"),
            ("03:00.0", "edu"), ("03:00.1", "edu"), ("05:00.0", "edu"), ("05:00.2", "edu"),
            ("05:00.4", "edu")])
        behind = [endpoint(0, (0x1c, 4), (0, 0)), endpoint(0, (0x1c, 4), (0, 2))]
        self.assertEqual(rmrrs_of(sc), [
            (0xf7e6000, 0xf7e7fff, False, [endpoint(0, (0x1d, 7))]),
            (0xf7df000, 0xf7e4fff, False,
             [endpoint(0, (0x1d, f)) for f in range(4)] + behind +
             [endpoint(0, (0x1c, 4), (0, 4))]),
            (0xf61e000, 0xf61ffff, False,
             [endpoint(0, (0x01, 0), (0, 0))] + behind +
             [endpoint(0, (0x09, 0), (0, 0)), endpoint(0, (0x09, 0), (0, 1)),
              endpoint(0, (0x03, 0), (0, 0)), endpoint(0, (0x03, 0), (0, 1))]),
        ])
        # Every scope reaches the device its path names.
        for r in sc.rmrrs:
            for s in r.scopes:
                self.assertIsNotNone(sc.resolve(s), s.describe())

    def test_desktop_usb_and_igd(self):
        # Gigabyte Z87-HD3: xHCI and two EHCIs share one RMRR, IGD has 40 MiB.
        sc = self.convert(88)
        self.assertIn("moved down by 0xc0000000", sc.description)
        self.assertEqual(sc.ports, [])
        self.assertEqual(devices_of(sc), [("00:02.0", "bochs-display"), ("00:14.0", "qemu-xhci"),
                                          ("00:1a.0", "ich9-usb-ehci1"),
                                          ("00:1d.0", "ich9-usb-ehci1")])
        self.assertEqual(rmrrs_of(sc), [
            (0xae83000, 0xae91fff, False, [endpoint(0, (0x1d, 0)), endpoint(0, (0x1a, 0)),
                                            endpoint(0, (0x14, 0))]),
            (0xb800000, 0xf9fffff, False, [endpoint(0, (0x02, 0))]),
        ])
        self.assertEqual(sc.memory, 512 * MIB)
        self.assertEqual(qemu.memmap_args(sc), ["memmap=0xf000$0xae83000",
                                                "memmap=0x4200000$0xb800000"])

    def test_addresses_kept_below_mmconfig(self):
        # ASUS Maximus VIII FORMULA: an add-in card on bus 0x11 shares the
        # xHCI's RMRR; 17 root ports so that the firmware's bus number exists.
        sc = self.convert(52)
        self.assertNotIn("moved", sc.description)
        self.assertEqual(rmrrs_of(sc), [(0x7dcc4000, 0x7dce3fff, False,
                                         [endpoint(0, (0x14, 0)), endpoint(0x11, (0, 0))])])
        self.assertEqual(sc.memory, 2048 * MIB)          # 0x7dce3fff + slack, 64 MiB steps
        self.assertEqual(len(sc.ports), 0x11)
        self.assertEqual(sc.ports[-1].bus, 0x11)
        self.assertEqual(devices_of(sc), [("00:14.0", "qemu-xhci"), ("11:00.0", "edu")])

    def test_highest_guest_below_mmconfig(self):
        # Toshiba dynabook R731-E: IGD up to 0xaf9fffff and a legacy range at
        # 0xe0000 stay where they are; -m must stay below 0xb0000000 or q35
        # keeps only 2 GiB below 4 GiB.
        sc = self.convert(32)
        self.assertEqual(sc.memory, 2815 * MIB)
        self.assertEqual([(r.base, r.end) for r in sc.rmrrs],
                         [(0xe0000, 0xe7fff), (0xaae44000, 0xaae63fff), (0xab800000, 0xaf9fffff)])

    def test_function_zero_fillers(self):
        # Huanan X99: 03:00.2 alone below its port needs 03:00.0; ME 16.7 needs 16.0.
        self.assertIn(("03:00.0", "edu"), devices_of(self.convert(16)))
        me = next(i for i, e in self.entries.items()
                  if any(s["path"] == [[0x16, 7]] for r in e["rmrr"] for s in r["devices"])
                  and not isinstance(corpus.convert(e), str))
        found = devices_of(self.convert(me))
        self.assertIn(("00:16.0", "edu"), found)
        self.assertIn(("00:16.7", "edu"), found)

    def test_malformed_rmrr_kept_as_written(self):
        # HP Compaq 6730b: USB RMRR with base = end = 0; IGD RMRR moved.
        sc = self.convert(26)
        self.assertEqual([(r.base, r.end, r.dangling) for r in sc.rmrrs],
                         [(0, 0, True), (0xbc00000, 0xfffffff, False)])
        self.assertEqual(qemu.memmap_args(sc), ["memmap=0x4400000$0xbc00000"])
        self.assertIn("1 malformed RMRR", sc.description)
        raw = [s for s in decode(dmar.build(sc)) if s[0] == "rmrr"]
        self.assertEqual((raw[0][1], raw[0][2]), (0, 0))

    def test_skipped_tables_say_why(self):
        self.assertEqual(corpus.convert(self.entries[7]),
                         "endpoint 00:1f.5: q35 has no function 5 in slot 1f")
        reason = corpus.convert(self.entries[19])
        self.assertIsInstance(reason, str)
        self.assertTrue(reason.startswith("RMRRs span 0xed000-0xbf7fffff"), reason)

    def test_every_table_converts_or_says_why_and_passes_iasl(self):
        for table_id, entry in sorted(self.entries.items()):
            with self.subTest(table=table_id):
                sc = corpus.convert(entry)
                if isinstance(sc, str):
                    self.assertTrue(sc and "\n" not in sc)
                    continue
                self.assertLess(sc.memory, corpus.MMCONFIG_BASE)
                for r in sc.rmrrs:
                    if not r.dangling:
                        self.assertLess(r.end, sc.memory)
                self.assertIsNone(iasl.check(dmar.build(sc)))

    def test_scopes_are_the_firmwares_bytes(self):
        for table_id, entry in sorted(self.entries.items()):
            sc = corpus.convert(entry)
            if isinstance(sc, str):
                continue
            with self.subTest(table=table_id):
                got = [[(t, bus, [tuple(h) for h in path]) for t, bus, path in r[3]]
                       for r in decode(dmar.build(sc)) if r[0] == "rmrr"]
                want = [[(dmar.SCOPE_TYPES[s["type"]], s["bus"], [tuple(h) for h in s["path"]])
                         for s in r["devices"]] for r in entry["rmrr"]]
                self.assertEqual(got, want)

    def test_sample_is_placeable_and_varied(self):
        self.assertGreaterEqual(len(corpus.SAMPLE), 20)
        self.assertEqual(len(set(corpus.SAMPLE)), len(corpus.SAMPLE))
        for table_id in corpus.SAMPLE:
            sc = self.convert(table_id)
            self.assertFalse(any(r.dangling for r in sc.rmrrs),
                             f"table {table_id}: malformed RMRRs belong to the hardening issue")


def synthetic_entry(*scopes, base="0x7f000000", end="0x7f00ffff"):
    """A corpus.json entry with one RMRR naming `scopes` (type, bus, path)."""
    return {"id": 0, "model": "synthetic", "category": "Test", "source": "unit test",
            "rmrr": [{"base": base, "end": end, "segment": 0,
                      "devices": [dict(type=t, bus=b, path=p, likely="") for t, b, p in scopes]}]}


class Synthetic(unittest.TestCase):
    """Shapes the corpus lacks: a bridge scope, and paths QEMU cannot have."""

    def entry(self, *scopes, **rmrr):
        return synthetic_entry(*scopes, **rmrr)

    def test_bridge_scope_gets_a_port_with_a_device(self):
        sc = corpus.convert(self.entry(("bridge", 0, [[4, 0]])))
        self.assertEqual(ports_of(sc), [("00:04.0", 1)])
        self.assertEqual(devices_of(sc), [("01:00.0", "edu")])
        self.assertEqual([d.bdf for d in sc.scope_devices(sc.rmrrs[0].scopes[0])], ["01:00.0"])
        self.assertIsNone(iasl.check(dmar.build(sc)))

    def test_unplaceable_paths(self):
        cases = [
            (("endpoint", 0, [[0x1c, 0], [1, 0]]), "only device 00 exists"),
            (("bridge", 0, [[0x1c, 0], [0, 0]]), "a bridge below a root port"),
            (("endpoint", 3, [[0, 0], [0, 0]]), "2-hop endpoint path from bus 0x3"),
            (("endpoint", 0, [[0x1f, 4]]), "q35 has no function 4 in slot 1f"),
        ]
        for scope, words in cases:
            with self.subTest(scope=scope):
                self.assertIn(words, corpus.convert(self.entry(scope)))

    def test_too_many_devices(self):
        # Bus 30 needs a root port in every free slot, plus the device: 31.
        self.assertIn("needs 31 QEMU devices", corpus.convert(self.entry(("endpoint", 30, [[0, 0]]))))
        self.assertIn("more root ports than q35 has free slots",
                      corpus.convert(self.entry(("endpoint", 40, [[0, 0]]))))

    def test_q35_functions_need_no_device(self):
        sc = corpus.convert(self.entry(("endpoint", 0, [[0x1f, 2]]), ("endpoint", 0, [[0, 0]])))
        self.assertEqual((sc.ports, sc.devices), ([], []))

    def test_shift_keeps_alignment(self):
        sc = corpus.convert(self.entry(("endpoint", 0, [[2, 0]]),
                                       base="0xc0000000", end="0xcfffffff"))
        (r,) = sc.rmrrs
        self.assertEqual(r.size, 0x10000000)
        self.assertEqual(r.base % (256 * MIB), 0)
        self.assertGreaterEqual(r.base, corpus.LOW_FLOOR)
        self.assertLess(r.end, sc.memory)


class RunnerReading(unittest.TestCase):
    """What corpus_run reads from a finished VM."""

    E820 = """[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x000000007ffdffff] usable
[    0.000000] BIOS-e820: [mem 0x000000007ffe0000-0x000000007fffffff] reserved
[    0.000000] BIOS-e820: [mem 0x0000000100000000-0x000000012fffffff] usable
"""

    def test_rmrr_outside_ram_is_named(self):
        # -m 2816M on q35: RAM stops at 2 GiB below 4 GiB.
        sc = corpus.convert(synthetic_entry(("endpoint", 0, [[2, 0]])))
        self.assertEqual(corpus_run.rmrrs_outside_ram(sc, self.E820), "")
        sc.rmrrs[0].base, sc.rmrrs[0].end = 0xab800000, 0xaf9fffff
        self.assertEqual(corpus_run.rmrrs_outside_ram(sc, self.E820), "0xab800000-0xaf9fffff")

    def test_harness_message_of_a_failed_case(self):
        output = """#  RUN           global.identity_map_logged_once ...
# rmrr_groups.c:192:identity_map_logged_once:Expected 1 (1) == kmsg_count(line) (0)
# rmrr_groups.c:192:identity_map_logged_once:expected once: DMAR: Setting identity map [0 - 0xfff]
# identity_map_logged_once: Test failed
not ok 5 global.identity_map_logged_once
"""
        self.assertEqual(corpus_run.harness_message(output, "rmrr_groups.global.identity_map_logged_once"),
                         "Expected 1 (1) == kmsg_count(line) (0): "
                         "expected once: DMAR: Setting identity map [0 - 0xfff]")
        self.assertEqual(corpus_run.harness_message(output, "rmrr_groups.global.other"), "")


if __name__ == "__main__":
    unittest.main()


class AllSkipped(unittest.TestCase):
    """A boot whose every test case skipped compared nothing with the
    table: corpus and hostile boots fail it, though the console is clean."""

    OUTPUT = ("WB-TEST rmrr_groups\nTAP version 13\n1..1\n"
              "ok 1 rmrr.x # SKIP nothing to check\nWB-RC 0\n")

    def fake_run(self, *args, **kwargs):
        from workbench import vm
        # The KUnit suite passes on every boot: it must not count.
        console = ("KTAP version 1\n1..1\n    # Subtest: s\n    1..1\n    ok 1 c\nok 1 s\n"
                   "Run /init as init process\n")
        return vm.Result(0, self.OUTPUT, console, [], 1.0, False,
                         kwargs.get("log_dir", args[3]))

    def test_hostile_table_with_only_skips_fails(self):
        from unittest import mock
        from workbench import hostile, vm
        import tempfile
        h = next(t for t in hostile.generate() if t.kind == "missing_device")
        with tempfile.TemporaryDirectory() as tmp, mock.patch.object(vm, "run", self.fake_run):
            o = hostile.boot(h, "bzImage", tmp, tmp)
        self.assertEqual((o.status, o.detail), ("fail", "no test case passed (every case skipped)"))

    def test_range_the_bytes_reject_needs_the_kernels_drop_line(self):
        from workbench import expect, hostile
        h = next(t for t in hostile.generate() if t.kind == "inverted")
        sc = hostile.machine(h)
        name, status, detail, _ = hostile.drops_case(sc, h, "Run /init as init process\n")
        self.assertEqual(status, "fail")
        self.assertIn("is empty-or-inverted but no drop line", detail)
        r = next(r for r in expect.decode(h.table).rmrrs if r.base is not None)
        line = f"DMAR: [Firmware Bug]: RMRR [{r.base:#x}-{r.end:#x}] dropped: empty or inverted range\n"
        self.assertEqual(hostile.drops_case(sc, h, line)[1], "pass")

    def test_boot_checks_are_not_test_cases(self):
        cases = [("c/kernel_console_clean", "pass", "", ""), ("c/rmrrs_in_guest_ram", "pass", "", ""),
                 ("c/kunit.s.c", "pass", "", ""), ("c/rmrr_groups.x", "skip", "why", "")]
        self.assertEqual([c[0] for c in corpus_run.test_cases(cases)], ["c/rmrr_groups.x"])
