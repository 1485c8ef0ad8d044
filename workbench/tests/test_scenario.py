import glob
import os
import struct
import tempfile
import unittest

from workbench import dmar, qemu, scenario

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_text(text):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text)
    try:
        return scenario.load(f.name)
    finally:
        os.unlink(f.name)


def decode(table):
    """Independent decoder: [(type, fields, [scopes])] from a DMAR table."""
    assert table[:4] == b"DMAR"
    length = struct.unpack_from("<I", table, 4)[0]
    out, off = [], 48
    while off < length:
        typ, slen = struct.unpack_from("<HH", table, off)
        head = 16 if typ == 0 else 24
        scopes, s = [], off + head
        while s < off + slen:
            stype, sl, _, enum, bus = struct.unpack_from("<BBHBB", table, s)
            path = [tuple(table[s + 6 + 2 * i:s + 8 + 2 * i]) for i in range((sl - 6) // 2)]
            scopes.append((stype, bus, path))
            s += sl
        if typ == 1:
            base, end = struct.unpack_from("<QQ", table, off + 8)
            out.append(("rmrr", base, end, scopes))
        else:
            out.append(("drhd", struct.unpack_from("<Q", table, off + 8)[0], table[off + 4], scopes))
        off += slen
    return out


class Scenarios(unittest.TestCase):
    def test_every_shipped_scenario_loads_and_encodes(self):
        paths = glob.glob(os.path.join(TOP, "scenarios/*.toml"))
        self.assertGreaterEqual(len(paths), 4)
        for p in paths:
            sc = scenario.load(p)
            table = dmar.build(sc)
            self.assertTrue(dmar.checksum_ok(table), p)
            self.assertEqual(len(table), struct.unpack_from("<I", table, 4)[0])

    def test_fail_nth_sweeps_are_required_where_they_can_run(self):
        # The test kernel has fail-nth: the type1 sweep is in the default
        # lane; the probe sweep needs the debug kernel's stack filter.
        sc = scenario.load(os.path.join(TOP, "scenarios/hp-dl360p-gen8.toml"))
        preserve = next(v for v in sc.variants if v.name.endswith("+preserve"))
        self.assertIn("rmrr_fail_nth.alloc_failure.every_allocation_on_each_path",
                      preserve.must_run)
        self.assertEqual("all", preserve.test_env.get("RMRR_FAIL_NTH_PATHS"))
        self.assertIn("rmrr_rescan.alloc_failure.probe_of_a_sharer", preserve.debug_must_run)
        self.assertEqual([], sc.debug_must_run)

    def test_hp_topology_matches_the_boot_log(self):
        sc = scenario.load(os.path.join(TOP, "scenarios/hp-dl360p-gen8.toml"))
        self.assertEqual([d.bdf for d in sc.devices],
                         ["01:00.0", "01:00.2", "02:00.0", "03:00.0", "03:00.1", "03:00.2", "03:00.3"])
        sizes = [r.size for r in sc.rmrrs]
        self.assertEqual(sizes, [0x10000, 0x4000, 0x2000])
        for r in sc.rmrrs:
            named = sorted(d.bdf for s in r.scopes for d in sc.scope_devices(s))
            self.assertEqual(named, sorted(d.bdf for d in sc.devices))

    def test_drhd_is_qemus_unit(self):
        sc = scenario.load(os.path.join(TOP, "scenarios/no-rmrr.toml"))
        table = dmar.build(sc)
        self.assertEqual(table[10:16], b"BOCHS ")
        self.assertEqual(table[16:24], b"BXPC    ")
        self.assertGreater(struct.unpack_from("<I", table, 24)[0], 1)
        (kind, base, flags, scopes), = decode(table)
        self.assertEqual((kind, base, flags), ("drhd", 0xfed90000, 1))
        self.assertEqual(scopes, [(3, 0xff, [(0, 0)])])

    def test_rmrr_encoding_round_trips(self):
        sc = scenario.load(os.path.join(TOP, "scenarios/hp-dl360p-gen8.toml"))
        rmrrs = [s for s in decode(dmar.build(sc)) if s[0] == "rmrr"]
        self.assertEqual([(b, e) for _, b, e, _ in rmrrs], [(r.base, r.end) for r in sc.rmrrs])
        self.assertEqual(rmrrs[0][3][0], (1, 0, [(2, 0), (0, 0)]))

    def test_memmap_reserves_every_rmrr(self):
        sc = scenario.load(os.path.join(TOP, "scenarios/xen-bdw.toml"))
        self.assertEqual(qemu.memmap_args(sc),
                         ["memmap=0x14000$0x2b80a000", "memmap=0x2800000$0x2d000000"])

    def test_reserve_replaces_the_memmap_of_rmrrs_inside_it(self):
        sc = load_text("""
[[device]]
name = "a"
model = "edu"
slot = "03.0"
[[reserve]]
base = 0x3f000000
end = 0x3f0fffff
[[rmrr]]
base = 0x3f000000
end = 0x3f000fff
scope = [ { type = "endpoint", bus = 0, path = ["03.0"] } ]
[[rmrr]]
base = 0x3f0ff000
end = 0x3f0fffff
scope = [ { type = "endpoint", bus = 0, path = ["03.0"] } ]
[[rmrr]]
base = 0x3f100000
end = 0x3f100fff
scope = [ { type = "endpoint", bus = 0, path = ["03.0"] } ]
""")
        self.assertEqual(qemu.memmap_args(sc),
                         ["memmap=0x100000$0x3f000000", "memmap=0x1000$0x3f100000"])

    def test_multifunction_flag_on_every_function(self):
        sc = scenario.load(os.path.join(TOP, "scenarios/hp-dl360p-gen8.toml"))
        args = " ".join(qemu.device_args(sc))
        self.assertIn("id=nic0,bus=rp3,addr=0x0.0,dma_mask=0xffffffffffffffff,multifunction=on", args)
        self.assertIn("id=nic3,bus=rp3,addr=0x0.3,dma_mask=0xffffffffffffffff,multifunction=on", args)
        self.assertIn("id=sa,bus=rp2,addr=0x0.0,dma_mask=0xffffffffffffffff -device", args)

    def test_bridge_scope_covers_devices_below(self):
        sc = load_text("""
memory = "512M"
[[port]]
name = "rp"
slot = "04.0"
[[device]]
name = "a"
model = "edu"
port = "rp"
slot = "00.0"
[[rmrr]]
base = 0x1000000
end = 0x1000fff
scope = [ { type = "bridge", bus = 0, path = ["04.0"] } ]
""")
        self.assertEqual([d.name for d in sc.scope_devices(sc.rmrrs[0].scopes[0])], ["a"])


class ScenarioErrors(unittest.TestCase):
    BASE = """
memory = "512M"
[[device]]
name = "a"
model = "edu"
slot = "03.0"
"""

    def assertRejected(self, text, words):
        with self.assertRaises(scenario.ScenarioError) as cm:
            load_text(self.BASE + text)
        self.assertIn(words, str(cm.exception))

    def test_unknown_iommu_mode(self):
        self.assertRejected('''
[[variant]]
name = "v"
iommu_mode = "nested"
''', "variant v: iommu_mode 'nested'")

    def test_scope_naming_no_device(self):
        self.assertRejected("""
[[rmrr]]
base = 0x1000000
end = 0x1000fff
scope = [ { bus = 0, path = ["05.0"] } ]
""", "names no device")

    def test_unaligned_range(self):
        self.assertRejected("""
[[rmrr]]
base = 0x1000800
end = 0x1000fff
scope = [ { bus = 0, path = ["03.0"] } ]
""", "4 KiB aligned")

    def test_range_beyond_ram(self):
        self.assertRejected("""
[[rmrr]]
base = 0x40000000
end = 0x40000fff
scope = [ { bus = 0, path = ["03.0"] } ]
""", "beyond guest RAM")

    def test_slot_taken_twice(self):
        self.assertRejected("""
[[device]]
name = "b"
model = "edu"
slot = "03.0"
""", "already used")

    def test_unknown_model(self):
        self.assertRejected("""
[[device]]
name = "b"
model = "e1000"
slot = "04.0"
""", "unknown model")

    def test_misspelt_must_run_is_refused(self):
        # "mustrun" once loaded as an empty must_run: nothing was required.
        self.assertRejected("""
[tests]
mustrun = ["rmrr_vfio.preserve.dma_reads_rmrr"]
""", "unknown key mustrun")

    def test_unknown_key_in_a_variant_and_a_scope(self):
        self.assertRejected("""
[[variant]]
name = "v"
must_runs = []
""", "variant[0]: unknown key must_runs")
        self.assertRejected("""
[[rmrr]]
base = 0x1000000
end = 0x1000fff
scope = [ { bus = 0, path = ["03.0"], kind = "bridge" } ]
""", "rmrr[0].scope[0]: unknown key kind")

    def test_bridge_type_on_endpoint(self):
        self.assertRejected("""
[[rmrr]]
base = 0x1000000
end = 0x1000fff
scope = [ { type = "bridge", bus = 0, path = ["03.0"] } ]
""", "type does not match")

    def test_dangling_scope_allowed_when_declared(self):
        sc = load_text(self.BASE + """
[[rmrr]]
base = 0x0
end = 0x0
dangling = true
scope = [ { bus = 0, path = ["09.0"] } ]
""")
        self.assertEqual(qemu.memmap_args(sc), [])

    def test_variant_memory_is_checked_against_the_rmrrs(self):
        self.assertRejected("""
[[rmrr]]
base = 0x1000000
end = 0x1000fff
scope = [ { bus = 0, path = ["03.0"] } ]
[[variant]]
name = "small"
memory = "16M"
""", "beyond guest RAM")


class ShareHost(unittest.TestCase):
    TEXT = ScenarioErrors.BASE + """
[[variant]]
name = "l2"
memory = "2G"
share_host = true
tests = ["l2_qemu.sh"]
"""

    def test_scalable_mode_variant_boots_qemus_vtd_in_scalable_mode(self):
        sc = scenario.load(os.path.join(TOP, "scenarios/hp-dl360p-gen8.toml"))
        sm = next(v for v in sc.variants if v.name.endswith("+sm"))
        argv = qemu.command(sm, "bzImage", "initrd", "c.log", "o.log")
        self.assertIn("intel-iommu,intremap=on,x-scalable-mode=on", argv)
        argv = qemu.command(sc, "bzImage", "initrd", "c.log", "o.log")
        self.assertIn("intel-iommu,intremap=on", argv)
        self.assertNotIn("intel-iommu,intremap=on,x-scalable-mode=on", argv)

    def test_variant_overrides(self):
        sc = load_text(self.TEXT)
        v = sc.variants[0]
        self.assertEqual((sc.memory, sc.share_host, sc.tests), (512 << 20, False, []))
        self.assertEqual((v.memory, v.share_host, v.tests), (2 << 30, True, ["l2_qemu.sh"]))

    def test_host_root_shared_read_only_after_the_devices(self):
        sc = load_text(self.TEXT)
        self.assertNotIn("-virtfs", qemu.command(sc, "k", "i", "c", "o"))
        cmd = qemu.command(sc.variants[0], "k", "i", "c", "o")
        fs = cmd[cmd.index("-virtfs") + 1]
        self.assertIn("path=/,", fs)
        self.assertIn("mount_tag=hostroot", fs)
        self.assertIn("readonly=on", fs)
        # Auto-placed on pcie.0: it must not take a slot a device asks for.
        last_device = max(i for i, a in enumerate(cmd) if a == "-device")
        self.assertGreater(cmd.index("-virtfs"), last_device)
