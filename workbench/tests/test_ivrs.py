import struct
import unittest

from workbench import iasl, ivrs, qemu, scenario
from workbench.tests.test_scenario import load_text

# QEMU 7.2's own IVRS for q35 -nodefaults -device amd-iommu,intremap=on,
# a pcie-root-port at 00:02.0 (bus 1, an edu behind it) and an edu at
# 00:03.0: /sys/firmware/acpi/tables/IVRS of a guest booted without a
# table upgrade (2026-12-05).
QEMU_IVRS = bytes.fromhex(
    "49565253740000000111424f43485320425850432020202001000000425850430100"
    "000000280000000000000000000010d14400080040000000d8fe000000000000000044"
    "0000000200000002080000021000000300010004ff01000218000002f8000002fa0000"
    "02fb00004800000000a00001")

TOPOLOGY = """
description = "the topology of the capture"
iommu_mode = "amd"
[[port]]
name = "rp1"
slot = "02.0"
[[device]]
name = "edu0"
model = "edu"
slot = "03.0"
[[device]]
name = "edu1"
model = "edu"
port = "rp1"
slot = "00.0"
"""


def ivmds(table):
    """Independent decoder: the IVMD blocks as (type, flags, devid, aux, start, length)."""
    length = struct.unpack_from("<I", table, 4)[0]
    out, off = [], 48
    while off < length:
        typ, flags, blen = struct.unpack_from("<BBH", table, off)
        if typ in (0x20, 0x21, 0x22):
            devid, aux, start, size = struct.unpack_from("<HH8xQQ", table, off + 4)
            out.append((typ, flags, devid, aux, start, size))
        off += blen
    return out


class IvrsTest(unittest.TestCase):
    def test_matches_qemus_own_table(self):
        sc = load_text(TOPOLOGY)
        self.assertEqual(ivrs.build(sc, oem_revision=1), QEMU_IVRS)

    def test_ivmd_blocks(self):
        sc = load_text(TOPOLOGY + """
[[ivmd]]
type = "device"
devices = ["edu0"]
base = 0x3e000000
end = 0x3e000fff
[[ivmd]]
type = "range"
devices = ["00:00.0", "0f:1f.7"]
base = 0x3e100000
end = 0x3e100000
flags = ["exclusion"]
[[ivmd]]
type = "all"
base = 0x3e200000
end = 0x3e201fff
flags = ["unity", "ir"]
""")
        table = ivrs.build(sc)
        self.assertEqual(sum(table) & 0xff, 0)
        self.assertEqual(table[24:28], b"\x02\x00\x00\x00")   # OEM revision above QEMU's
        self.assertEqual(ivmds(table), [(0x21, 0x7, 0x0018, 0, 0x3e000000, 0x1000),
                                        (0x22, 0x8, 0x0000, 0x0fff, 0x3e100000, 1),
                                        (0x20, 0x3, 0, 0, 0x3e200000, 0x2000)])
        self.assertIsNone(iasl.check(table))
        self.assertIn("memmap=0x1000$0x3e100000", qemu.kernel_cmdline(sc))

    def test_refusals(self):
        bad = {
            'type = "device"\ndevices = ["nope"]': "no device",
            'type = "range"\ndevices = ["edu0"]': "names 2",
            'type = "device"\ndevices = ["edu0"]\nflags = ["x"]': "flag 'x'",
        }
        for body, why in bad.items():
            with self.assertRaisesRegex(scenario.ScenarioError, why):
                load_text(TOPOLOGY + f"[[ivmd]]\n{body}\nbase = 0x3e000000\nend = 0x3e000fff\n")
        with self.assertRaisesRegex(scenario.ScenarioError, "needs iommu_mode"):
            load_text(TOPOLOGY.replace('iommu_mode = "amd"', "") +
                      '[[ivmd]]\ndevices = ["edu0"]\nbase = 0x3e000000\nend = 0x3e000fff\n')
        with self.assertRaisesRegex(scenario.ScenarioError, "slot 01"):
            load_text(TOPOLOGY.replace('slot = "02.0"', 'slot = "01.0"'))


if __name__ == "__main__":
    unittest.main()
