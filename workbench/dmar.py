"""Encode a scenario as an ACPI DMAR table (Intel VT-d spec, chapter 8).

The table mirrors what QEMU's q35 machine builds for -device intel-iommu
(one DRHD at 0xfed90000 with INCLUDE_PCI_ALL and the IOAPIC scope) and adds
the scenario's RMRRs.  OEM ID and table ID are QEMU's own ("BOCHS " /
"BXPC    ") with a higher OEM revision, so the kernel's initrd table upgrade
(CONFIG_ACPI_TABLE_UPGRADE) replaces QEMU's table with this one.
"""

import struct

QEMU_DRHD_BASE = 0xfed90000
QEMU_HOST_ADDRESS_WIDTH = 39        # intel-iommu aw-bits default
QEMU_IOAPIC_ID = 0
Q35_PSEUDO_BUS_PLATFORM = 0xff
Q35_PSEUDO_DEVFN_IOAPIC = 0x00

DMAR_INTR_REMAP = 0x1
DRHD_INCLUDE_PCI_ALL = 0x1

TYPE_DRHD = 0
TYPE_RMRR = 1

SCOPE_TYPES = {"endpoint": 1, "bridge": 2, "ioapic": 3, "hpet": 4}

OEM_ID = b"BOCHS "
OEM_TABLE_ID = b"BXPC    "
OEM_REVISION = 2                    # QEMU uses 1; the upgrade needs more


def device_scope(kind, bus, path, enumeration_id=0):
    body = b"".join(struct.pack("<BB", d, f) for d, f in path)
    return struct.pack("<BBHBB", SCOPE_TYPES[kind], 6 + len(body), 0,
                       enumeration_id, bus) + body


def drhd(base, scopes, flags=DRHD_INCLUDE_PCI_ALL, segment=0):
    body = b"".join(scopes)
    return struct.pack("<HHBBHQ", TYPE_DRHD, 16 + len(body), flags, 0,
                       segment, base) + body


def rmrr(base, end, scopes, segment=0):
    body = b"".join(scopes)
    return struct.pack("<HHHHQQ", TYPE_RMRR, 24 + len(body), 0, segment,
                       base, end) + body


def acpi_table(signature, body, oem_revision=OEM_REVISION):
    """Wrap @body in an ACPI header with QEMU's IDs and fix the checksum."""
    header = struct.pack("<4sIBB6s8sI4sI", signature, 36 + len(body), 1, 0, OEM_ID,
                         OEM_TABLE_ID, oem_revision, b"BXPC", 1)
    raw = bytearray(header + body)
    raw[9] = (-sum(raw)) & 0xff
    return bytes(raw)


def table(structures, flags=DMAR_INTR_REMAP, haw=QEMU_HOST_ADDRESS_WIDTH):
    """Wrap remapping structures in the ACPI header and fix the checksum."""
    return acpi_table(b"DMAR", struct.pack("<BB10x", haw - 1, flags) + b"".join(structures))


def qemu_drhd(extra_scopes=()):
    """QEMU's one DRHD (INCLUDE_PCI_ALL, its IO-APIC scope), with
    @extra_scopes (raw bytes) after the IO-APIC's."""
    ioapic = device_scope("ioapic", Q35_PSEUDO_BUS_PLATFORM,
                          [(Q35_PSEUDO_DEVFN_IOAPIC >> 3, Q35_PSEUDO_DEVFN_IOAPIC & 7)],
                          QEMU_IOAPIC_ID)
    return drhd(QEMU_DRHD_BASE, [ioapic] + list(extra_scopes))


def build(scenario):
    structures = [qemu_drhd()]
    for r in scenario.rmrrs:
        scopes = [device_scope(s.type, s.bus, s.path) for s in r.scopes]
        structures.append(rmrr(r.base, r.end, scopes))
    return table(structures)


def checksum_ok(raw):
    return sum(raw) & 0xff == 0
