import glob
import os
import shutil
import struct
import subprocess
import tempfile
import unittest
from unittest import mock

from workbench import dmar, expect, hostile, scenario

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def acpi_table(body, length=None):
    """A DMAR table packed by hand (not by dmar.py): header, HAW 38 (39
    bits), flags 1, then `body`.  The checksum is left 0: nothing here
    reads it."""
    head = b"DMAR" + struct.pack("<I", length if length is not None else 48 + len(body))
    head += bytes([1, 0]) + b"OEMID " + b"TABLEID " + bytes(12)
    return head + bytes([38, 1]) + bytes(10) + body


DRHD = struct.pack("<HHBBHQ", 0, 16, 1, 0, 0, 0xfed90000)


def rmrr(base, end, scopes=b"", segment=0, length=None):
    body = struct.pack("<HHQQ", 0, segment, base, end) + scopes
    return struct.pack("<HH", 1, length if length is not None else 4 + len(body)) + body


def scope(type_, bus, hops, length=None):
    raw = bytes(b for hop in hops for b in hop)
    return bytes([type_, length if length is not None else 6 + len(raw), 0, 0, 0, bus]) + raw


def lines(table):
    return [line for line in expect.expectations(table) if not line.startswith("#")]


class Decoder(unittest.TestCase):
    def test_hand_written_table(self):
        table = acpi_table(DRHD + rmrr(0x3df7f000, 0x3df8efff,
                                       scope(1, 0, [(2, 0), (0, 0)]) + scope(2, 0, [(0x1c, 4)]),
                                       segment=1))
        t = expect.decode(table)
        self.assertEqual((t.width, t.problem, t.has_drhd), (39, None, True))
        r, = t.rmrrs
        self.assertEqual((r.offset, r.segment, r.base, r.end, r.problem),
                         (64, 1, 0x3df7f000, 0x3df8efff, None))
        self.assertEqual([(s.type, s.bus, s.path) for s in r.scopes],
                         [(1, 0, [(2, 0), (0, 0)]), (2, 0, [(0x1c, 4)])])
        self.assertEqual(lines(table), [
            "rmrr 0x3df7f000 0x3df8efff endpoint 0001:00 02.0/00.0 kept",
            "rmrr 0x3df7f000 0x3df8efff bridge 0001:00 1c.4 kept",
        ])

    def test_every_shipped_scenario_decodes_as_written(self):
        paths = glob.glob(os.path.join(TOP, "scenarios/*.toml"))
        paths += glob.glob(os.path.join(TOP, "scenarios/bench/*.toml"))
        self.assertTrue(paths)
        for p in paths:
            with self.subTest(p):
                sc = scenario.load(p)
                t = expect.decode(dmar.build(sc))
                self.assertEqual((t.problem, t.has_drhd, t.width), (None, True, 39))
                got = [(r.base, r.end, [(expect.SCOPE_NAMES[s.type], s.bus, s.path)
                                        for s in r.scopes]) for r in t.rmrrs]
                want = [(r.base, r.end, [(s.type, s.bus, s.path) for s in r.scopes])
                        for r in sc.rmrrs]
                self.assertEqual(got, want)
                self.assertTrue(all(expect.verdict(r, t) == "kept" for r in t.rmrrs))

    def test_scenario_lines(self):
        sc = scenario.load(os.path.join(TOP, "scenarios/rmrr-shapes.toml"))
        got = lines(dmar.build(sc))
        self.assertIn("rmrr 0x3e000000 0x3e00ffff endpoint 0000:00 01.0/00.0 kept", got)
        self.assertIn("rmrr 0x3e200000 0x3e2fffff bridge 0000:00 04.0 kept", got)
        self.assertEqual(len(got), sum(len(r.scopes) for r in sc.rmrrs))

    def test_no_rmrr(self):
        table = acpi_table(DRHD)
        self.assertEqual(expect.decode_rmrrs(table), [])
        self.assertEqual(lines(table), [])


class Rules(unittest.TestCase):
    def verdict(self, base, end, width_byte=38):
        table = bytearray(acpi_table(DRHD + rmrr(base, end, scope(1, 0, [(3, 0)]))))
        table[36] = width_byte
        t = expect.decode(bytes(table))
        return expect.verdict(t.rmrrs[0], t)

    def test_range_rules(self):
        cases = [
            (0x1000, 0x1fff, "kept"),
            (0x2000, 0x1fff, "dropped:empty-or-inverted"),
            (0x2000, 0x2000, "dropped:empty-or-inverted"),       # end <= base
            (0, 0, "dropped:empty-or-inverted"),
            ((1 << 39) - 0x1000, (1 << 39) - 1, "kept"),
            ((1 << 39) - 0x1000, 1 << 39, "dropped:beyond-address-width"),
            (1 << 63, (1 << 63) + 0xfff, "dropped:beyond-address-width"),
            (0xfedff000, 0xfedfffff, "kept"),
            (0xfedff000, 0xfee00000, "dropped:interrupt-window"),
            (0xfeeff000, 0xfeefffff, "dropped:interrupt-window"),
            (0xfef00000, 0xfef00fff, "kept"),
            (0xfe000000, 0xff000000, "dropped:interrupt-window"),
            # Unaligned ranges are kept (Documentation/iommu-rmrr.rst).
            (0x1e000010, 0x1e000fff, "kept"),
            (0x1e000000, 0x1e0007ff, "kept"),
        ]
        for base, end, want in cases:
            with self.subTest(f"{base:#x}-{end:#x}"):
                self.assertEqual(self.verdict(base, end), want)

    def test_width_64_has_no_limit(self):
        self.assertEqual(self.verdict(1 << 62, (1 << 62) + 0xfff, width_byte=63), "kept")

    def test_malformed_scopes_drop_the_structure(self):
        good = scope(1, 0, [(3, 0)])
        cases = [
            (scope(1, 0, [(3, 0)], length=0) + good, "malformed-scope-too-short", []),
            (good + scope(1, 0, [(3, 0)], length=40), "malformed-scope-past-structure", [[(3, 0)]]),
            (bytes([1, 7, 0, 0, 0, 0, 3]) + good, "malformed-scope-odd-length", [[(3, 0)]]),
            (scope(2, 0, []) + good, "malformed-scope-without-path", [[(3, 0)]]),
            (good + bytes(3), "malformed-scope-too-short", [[(3, 0)]]),
        ]
        for scopes, problem, paths in cases:
            with self.subTest(problem):
                t = expect.decode(acpi_table(DRHD + rmrr(0x1000, 0x1fff, scopes)))
                r, = t.rmrrs
                self.assertEqual(r.problem, problem)
                self.assertEqual([s.path for s in r.scopes], paths)
                self.assertEqual(expect.verdict(r, t), f"dropped:{problem}")

    def test_other_scope_types_get_no_line(self):
        scopes = scope(3, 0xff, [(0, 0)]) + scope(0x7f, 0, [(3, 0)]) + scope(1, 0, [(3, 0)])
        self.assertEqual(lines(acpi_table(DRHD + rmrr(0x1000, 0x1fff, scopes))),
                         ["rmrr 0x1000 0x1fff endpoint 0000:00 03.0 kept"])

    def test_short_structure(self):
        table = acpi_table(DRHD + struct.pack("<HHHH", 1, 8, 0, 0) + rmrr(0x1000, 0x1fff,
                                                                        scope(1, 0, [(3, 0)])))
        t = expect.decode(table)
        self.assertEqual([r.problem for r in t.rmrrs], ["malformed-structure-short", None])
        self.assertEqual(lines(table), ["rmrr 0x1000 0x1fff endpoint 0000:00 03.0 kept"])

    def test_zero_length_structure_ends_the_walk(self):
        tail = rmrr(0x2000, 0x2fff, scope(1, 0, [(4, 0)]))
        table = acpi_table(DRHD + rmrr(0x1000, 0x1fff, scope(1, 0, [(3, 0)]))
                           + struct.pack("<HH", 1, 0) + tail)
        t = expect.decode(table)
        self.assertEqual(([r.base for r in t.rmrrs], t.problem), ([0x1000], None))
        # Zero padding after the last structure reads the same way.
        padded = acpi_table(DRHD + rmrr(0x1000, 0x1fff, scope(1, 0, [(3, 0)])) + bytes(16))
        self.assertEqual(lines(padded), ["rmrr 0x1000 0x1fff endpoint 0000:00 03.0 kept"])

    def test_truncated_table_honours_nothing(self):
        body = DRHD + rmrr(0x1000, 0x1fff, scope(1, 0, [(3, 0)])) + rmrr(
            0x2000, 0x2fff, scope(1, 0, [(4, 0)]))
        cut = acpi_table(body, length=48 + len(body) - 2)     # the header's length cuts it
        t = expect.decode(cut)
        self.assertEqual(t.problem, "table-truncated")
        self.assertEqual(t.rmrrs[1].problem, "malformed-truncated")
        self.assertTrue(all(v.endswith("dropped:table-truncated") for v in lines(cut)))
        # A partial structure header at the end, too.
        self.assertEqual(expect.decode(acpi_table(body + b"\x01\x00")).problem, "table-truncated")

    def test_no_drhd_honours_nothing(self):
        table = acpi_table(rmrr(0x1000, 0x1fff, scope(1, 0, [(3, 0)])))
        self.assertEqual(lines(table), ["rmrr 0x1000 0x1fff endpoint 0000:00 03.0 "
                                        "dropped:table-no-drhd"])
        bad_drhd = struct.pack("<HHBBHQ", 0, 22, 1, 0, 0, 0xfed90000) + scope(3, 0, [], length=0)
        table = acpi_table(bad_drhd + rmrr(0x1000, 0x1fff, scope(1, 0, [(3, 0)])))
        self.assertFalse(expect.decode(table).has_drhd)

    def test_every_prefix_and_corruption_decodes_without_raising(self):
        sc = scenario.load(os.path.join(TOP, "scenarios/hp-dl360p-gen8.toml"))
        table = dmar.build(sc)
        for n in range(len(table) + 1):
            expect.expectations(table[:n])
        for i in range(4, len(table)):
            for value in (0, 1, 5, 0x7f, 0xff):
                corrupt = bytearray(table)
                corrupt[i] = value
                expect.expectations(bytes(corrupt))
        for junk in (b"", b"DMAR", b"XSDT" + bytes(60), bytes(200)):
            self.assertEqual(expect.decode_rmrrs(junk), [])

    def test_hostile_tables(self):
        """The workbench's generated malformed tables (hostile.py): each
        decodes, and the kinds whose outcome the table alone decides get it."""
        want = {
            "inverted": "dropped:empty-or-inverted",
            "zero": "dropped:empty-or-inverted",
            "beyond_width": "dropped:beyond-address-width",
            "unaligned": "kept",
            "scope_past_end": "dropped:malformed-scope-past-structure",
            "missing_device": "kept",       # a scope naming nothing is not the table's business
        }
        seen = set()
        for h in hostile.generate():
            verdicts = {line.rsplit(" ", 1)[1] for line in lines(h.table)}
            if h.kind in want:
                seen.add(h.kind)
                self.assertEqual(verdicts, {want[h.kind]}, f"{h.id} {h.kind}: {h.note}")
            if h.kind in ("zero_length_scope", "odd_scope"):
                self.assertTrue(expect.decode(h.table).rmrrs[0].problem, h.note)
            if h.kind == "lying_length" and "cuts" in h.note:
                self.assertEqual(expect.decode(h.table).problem, "table-truncated")
            if h.kind == "lying_length" and "padding" in h.note:
                self.assertEqual(verdicts, {"kept"})
        self.assertEqual(seen, set(want))


class File(unittest.TestCase):
    TABLE = acpi_table(DRHD + rmrr(0x3df7f000, 0x3df8efff, scope(1, 0, [(1, 0), (0, 2)]))
                       + rmrr(0x5000, 0x4000, scope(2, 0, [(4, 0)])))

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "expected-rmrr.txt")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def read(self):
        with open(self.path) as f:
            return [line for line in f.read().splitlines() if not line.startswith("#")]

    def test_write(self):
        with mock.patch.dict(os.environ, {expect.PLANT_BUG_ENV: ""}):
            expect.write_expectations(self.TABLE, self.path)
        self.assertEqual(self.read(), [
            "rmrr 0x3df7f000 0x3df8efff endpoint 0000:00 01.0/00.2 kept",
            "rmrr 0x5000 0x4000 bridge 0000:00 04.0 dropped:empty-or-inverted",
        ])

    def test_planted_bug_moves_kept_ends_only(self):
        with mock.patch.dict(os.environ, {expect.PLANT_BUG_ENV: "1"}):
            expect.write_expectations(self.TABLE, self.path)
        self.assertEqual(self.read(), [
            "rmrr 0x3df7f000 0x3df8ffff endpoint 0000:00 01.0/00.2 kept",
            "rmrr 0x5000 0x4000 bridge 0000:00 04.0 dropped:empty-or-inverted",
        ])

    def test_busybox_sh_reads_it(self):
        busybox = shutil.which("busybox") or "/bin/busybox"
        if not os.access(busybox, os.X_OK):
            self.skipTest("no busybox")
        expect.write_expectations(self.TABLE, self.path, plant_bug=False)
        script = ('while read -r kind base end type bus path verdict rest; do '
                  '[ "$kind" = rmrr ] || continue; '
                  'echo "$((base))|$((end))|$type|${bus%%:*}|${bus#*:}|$path|$verdict|$rest"; '
                  'done < "$1"')
        out = subprocess.run([busybox, "sh", "-c", script, "sh", self.path], check=True,
                             capture_output=True, text=True).stdout
        self.assertEqual(out.splitlines(), [
            f"{0x3df7f000}|{0x3df8efff}|endpoint|0000|00|01.0/00.2|kept|",
            f"{0x5000}|{0x4000}|bridge|0000|00|04.0|dropped:empty-or-inverted|",
        ])


if __name__ == "__main__":
    unittest.main()
