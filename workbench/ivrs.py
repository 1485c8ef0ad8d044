"""Encode a scenario as an ACPI IVRS table (AMD I/O Virtualization
Technology spec, 48882, section 5.2).

The table is the one QEMU 7.2 builds for -device amd-iommu on q35, byte
for byte (checked against a capture in workbench/tests), plus the
scenario's IVMD blocks: one IVHD of type 10h for the IOMMU at 00:01.0,
MMIO at 0xfed80000, with a select entry per function of bus 0 in devfn
order, a range entry for the buses behind each root port, and the
IO-APIC's special entry (00:14.0, IO-APIC ID 0).  OEM ID and table ID
are QEMU's ("BOCHS " / "BXPC    ") with a higher OEM revision, so the
kernel's initrd table upgrade (CONFIG_ACPI_TABLE_UPGRADE) replaces QEMU's
table with this one.
"""

import struct

from . import dmar

OEM_REVISION = dmar.OEM_REVISION    # QEMU uses 1; the upgrade needs more
IVINFO = 40 << 8                    # physical address size 40 bits

IOMMU_DEVFN = (0x01, 0)             # first free slot; scenarios keep it free
IOMMU_CAP_OFFSET = 0x40
IOMMU_MMIO_BASE = 0xfed80000
IVHD_FLAGS = 0xd1                   # HtTunEn, IotlbSup, PrefSup, PPRSup
IVHD_FEATURES = 0x44

# q35's own functions on bus 0 with -nodefaults: host bridge, LPC, SATA, SMBus.
Q35_FUNCTIONS = [(0x00, 0), (0x1f, 0), (0x1f, 2), (0x1f, 3)]
IOAPIC_DEVID = 0x00a0               # 00:14.0, as QEMU reports it
IOAPIC_ID = 0

ENTRY_SELECT, ENTRY_RANGE_START, ENTRY_RANGE_END = 0x02, 0x03, 0x04
ENTRY_SPECIAL, SPECIAL_IOAPIC = 0x48, 0x01

IVMD_TYPES = {"all": 0x20, "device": 0x21, "range": 0x22}


def devid(bus, dev, fn):
    return bus << 8 | dev << 3 | fn


def select(d):
    return struct.pack("<BHB", ENTRY_SELECT, d, 0)


def device_entries(scenario):
    """QEMU's device entries for the scenario's bus 0, in devfn order."""
    functions = {(dev, fn): None for dev, fn in Q35_FUNCTIONS}
    functions[IOMMU_DEVFN] = None
    for p in scenario.ports:
        functions[(p.dev, p.fn)] = p
    for d in scenario.devices:
        if d.bus == 0 and not d.hotplug:
            functions[(d.dev, d.fn)] = None
    out = b""
    for (dev, fn), port in sorted(functions.items()):
        out += select(devid(0, dev, fn))
        if port is not None:
            out += struct.pack("<BHB", ENTRY_RANGE_START, devid(port.bus, 0, 0), 0)
            out += struct.pack("<BHB", ENTRY_RANGE_END, devid(port.bus, 0x1f, 7), 0)
    return out + struct.pack("<BBHBHB", ENTRY_SPECIAL, 0, 0, IOAPIC_ID, IOAPIC_DEVID,
                             SPECIAL_IOAPIC)


def ivhd(entries):
    return struct.pack("<BBHHHQHHI", 0x10, IVHD_FLAGS, 24 + len(entries),
                       devid(0, *IOMMU_DEVFN), IOMMU_CAP_OFFSET, IOMMU_MMIO_BASE, 0, 0,
                       IVHD_FEATURES) + entries


def ivmd(kind, flags, first, last, start, length):
    """One IVMD block: `kind` is all/device/range, `first`/`last` device
    IDs (last only for a range), memory [start, start + length)."""
    aux = last if kind == "range" else 0
    return struct.pack("<BBHHH8xQQ", IVMD_TYPES[kind], flags, 32,
                       0 if kind == "all" else first, aux, start, length)


def table(blocks, oem_revision=OEM_REVISION):
    return dmar.acpi_table(b"IVRS", struct.pack("<I8x", IVINFO) + b"".join(blocks),
                           oem_revision)


def build(scenario, oem_revision=OEM_REVISION):
    blocks = [ivhd(device_entries(scenario))]
    for m in scenario.ivmds:
        blocks.append(ivmd(m.kind, m.flags, m.first, m.last, m.base, m.end - m.base + 1))
    return table(blocks, oem_revision)
