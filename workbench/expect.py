"""What the kernel must make of a DMAR table's RMRRs, decided from its bytes.

This is the test oracle for the kernel and for rmrr-report.  rmrr-report
builds in the selftests' DMAR parser and drop rule (dmar_table.h,
rmrr_utils.h), so a bug there would make the tool and those tests agree.
This decoder is kept separate on purpose: written from the VT-d
specification (chapter 8, "BIOS Considerations"), sharing no code with
the selftests or with dmar.py's encoder, and it keeps only the drop rules
that Documentation/iommu-rmrr.rst ("Entries the kernel drops") or the
specification states.  Its output is a text file the guest's
test-in-vm.sh reads with busybox sh, next to what sysfs and the kernel log
say.

Layout (VT-d spec 8.1-8.4, all little endian):

  ACPI header      36 bytes; Length at offset 4 covers the whole table
  DMAR header      Host Address Width (N-1) at 36, Flags at 37, 10 reserved
  structures       from offset 48: Type (2), Length (2), body
  RMRR (type 1)    Reserved (2), Segment (2), Base (8), Limit (8, inclusive),
                   device scopes from offset 24 of the structure
  device scope     Type (1), Length (1) = 6 + 2 * hops, Reserved (2),
                   Enumeration ID (1), Start Bus (1), then (Device, Function)
                   byte pairs from the host bridge's bus down

The rules, and where each comes from:

  RMRR dropped (Documentation/iommu-rmrr.rst, "Entries the kernel drops"):
    empty-or-inverted       Limit <= Base
    beyond-address-width    Limit at or above 2^(HAW+1)
    interrupt-window        overlaps 0xfee00000-0xfeefffff
  (a range over usable RAM is kept, as Linux 6.12 keeps it, with a
  firmware-bug warning; only the group's owner is refused, see
  "direct_assign")
  structure dropped (same section: "checked against its container before
  anything walks it"; the scope layout is the specification's):
    malformed-structure-short     Length below the 24 fixed bytes
    malformed-scope-too-short     a scope of Length below 6 (0 included)
    malformed-scope-past-structure  a scope running past its structure
    malformed-scope-odd-length    Length not 6 + 2 * hops
    malformed-scope-without-path  an endpoint or bridge scope of no hop
  table (the specification's Length covers the whole table, and the
  structures tile it):
    table-truncated   a structure (or a header of one) runs past the
                      table's end: the table cannot be trusted, and Linux
                      (upstream, not only this series) refuses it and
                      leaves the IOMMU off, so no RMRR is honoured
    table-no-drhd     no well-formed DRHD: no remapping hardware, nothing
                      to honour an RMRR with
  A structure of Length below 4 ends the walk: nothing after it can be
  located, so it names no RMRR (the kernel ignores the rest of the table).

Not rules: the specification asks for 4 KiB aligned Base and Limit + 1,
but the kernel documentation says such ranges are kept, with upstream's
[Firmware Bug] line; so they are "kept" here.

The file write_expectations() writes, one line per endpoint or bridge
scope of every RMRR, for `while read -r kind base end type bus path verdict`:

  rmrr 0x3df7f000 0x3df8efff endpoint 0000:00 02.0/00.0 kept
  rmrr 0x1e000000 0x1dfff000 endpoint 0000:00 03.0 dropped:empty-or-inverted

Addresses are 0x%x (lower case, no padding: rmrr-report's and the kernel
log's spelling), the bus is "segment:bus" as sysfs spells it
(/sys/class/pci_bus/0000:00), the path is dd.f hops joined by "/".  Lines
starting with "#" are notes for the reader.  Scopes of other types
(IOAPIC, HPET, ACPI namespace, unknown) name no PCI device and get no line.

Deliberate breakage, to show the oracle catches a wrong expectation: with
RMRR_EXPECT_PLANT_BUG=1 in the environment of write_expectations(), every
kept RMRR's end is written 0x1000 too high, and test-in-vm.sh must fail.
"""

import dataclasses
import os
import struct

ACPI_HEADER_LEN = 36
DMAR_HEADER_LEN = 48                 # ACPI header + HAW, flags, 10 reserved
STRUCT_HEADER_LEN = 4                # Type (2), Length (2)

TYPE_DRHD = 0
TYPE_RMRR = 1
DRHD_FIXED_LEN = 16
RMRR_FIXED_LEN = 24

SCOPE_HEADER_LEN = 6
SCOPE_ENDPOINT = 1
SCOPE_BRIDGE = 2
SCOPE_NAMES = {SCOPE_ENDPOINT: "endpoint", SCOPE_BRIDGE: "bridge"}

INTERRUPT_WINDOW = (0xfee00000, 0xfeefffff)

PLANT_BUG_ENV = "RMRR_EXPECT_PLANT_BUG"
PLANTED_SHIFT = 0x1000


@dataclasses.dataclass
class Scope:
    type: int
    enumeration_id: int
    bus: int
    path: list                       # [(device, function), ...]


@dataclasses.dataclass
class Rmrr:
    offset: int                      # of the structure in the table
    segment: int | None              # None: the structure is too short to say
    base: int | None
    end: int | None                  # inclusive ("Limit")
    scopes: list                     # the well-formed scopes, in order
    problem: str | None = None       # why the structure is malformed


@dataclasses.dataclass
class Table:
    width: int | None                # host address width in bits (HAW + 1)
    rmrrs: list
    problem: str | None = None       # why the whole table is refused
    has_drhd: bool = False


def _scopes(body, start):
    """Decode the device scopes in body[start:]: (scopes, problem)."""
    scopes, problem, p = [], None, start
    while p < len(body):
        left = len(body) - p
        length = body[p + 1] if left >= 2 else 0
        if left < SCOPE_HEADER_LEN or length < SCOPE_HEADER_LEN:
            return scopes, problem or "malformed-scope-too-short"   # cannot step on
        if length > left:
            return scopes, problem or "malformed-scope-past-structure"
        type_, _, enum_id, bus = struct.unpack_from("<BBxxBB", body, p)
        raw = body[p + SCOPE_HEADER_LEN:p + length]
        p += length
        if len(raw) % 2:
            problem = problem or "malformed-scope-odd-length"
            continue
        if type_ in SCOPE_NAMES and not raw:
            problem = problem or "malformed-scope-without-path"
            continue
        scopes.append(Scope(type_, enum_id, bus, [(raw[i], raw[i + 1])
                                                  for i in range(0, len(raw), 2)]))
    return scopes, problem


def _rmrr(offset, body, truncated):
    """One RMRR structure from its bytes (as many as the table holds)."""
    segment = base = end = None
    if len(body) >= 8:
        segment, = struct.unpack_from("<H", body, 6)
    if len(body) >= 16:
        base, = struct.unpack_from("<Q", body, 8)
    if len(body) >= RMRR_FIXED_LEN:
        end, = struct.unpack_from("<Q", body, 16)
        scopes, problem = _scopes(body, RMRR_FIXED_LEN)
    else:
        scopes, problem = [], "malformed-structure-short"
    if truncated:
        problem = "malformed-truncated"
    return Rmrr(offset, segment, base, end, scopes, problem)


def decode(table):
    """Decode a DMAR table; never raises on short or malformed bytes."""
    table = bytes(table)
    if len(table) < ACPI_HEADER_LEN or table[:4] != b"DMAR":
        return Table(None, [], "table-not-dmar")
    length, = struct.unpack_from("<I", table, 4)
    end = min(length, len(table))
    if end < DMAR_HEADER_LEN:
        return Table(None, [], "table-truncated")
    out = Table(table[36] + 1, [])
    off = DMAR_HEADER_LEN
    while off < end:
        if end - off < STRUCT_HEADER_LEN:
            out.problem = "table-truncated"
            break
        type_, slen = struct.unpack_from("<HH", table, off)
        if slen < STRUCT_HEADER_LEN:
            break                    # where the next one starts is unknowable
        truncated = off + slen > end
        body = table[off:min(off + slen, end)]
        if type_ == TYPE_RMRR:
            out.rmrrs.append(_rmrr(off, body, truncated))
        elif type_ == TYPE_DRHD and not truncated and slen >= DRHD_FIXED_LEN:
            out.has_drhd |= _scopes(body, DRHD_FIXED_LEN)[1] is None
        if truncated:
            out.problem = "table-truncated"
            break
        off += slen
    return out


def decode_rmrrs(table):
    """The RMRR structures of a DMAR table, malformed ones included."""
    return decode(table).rmrrs


def verdict(rmrr, table):
    """'kept', or 'dropped:<reason>' for the rules the table decides."""
    if table.problem:
        return f"dropped:{table.problem}"
    if not table.has_drhd:
        return "dropped:table-no-drhd"
    if rmrr.problem:
        return f"dropped:{rmrr.problem}"
    if rmrr.end <= rmrr.base:
        return "dropped:empty-or-inverted"
    if table.width < 64 and rmrr.end >> table.width:
        return "dropped:beyond-address-width"
    if rmrr.base <= INTERRUPT_WINDOW[1] and rmrr.end >= INTERRUPT_WINDOW[0]:
        return "dropped:interrupt-window"
    return "kept"


def _hex(value):
    return "?" if value is None else f"{value:#x}"


def expectations(table, plant_bug=False):
    """The lines of the expectations file, as a list of strings."""
    t = decode(table)
    lines = [f"# expected RMRRs, decoded by workbench/expect.py from the DMAR table "
             f"({len(t.rmrrs)} RMRR structure(s), host address width {t.width}"
             f"{', ' + t.problem if t.problem else ''})"]
    if plant_bug:
        lines.append(f"# {PLANT_BUG_ENV}=1: every kept end is written "
                     f"{PLANTED_SHIFT:#x} too high; test-in-vm.sh must fail")
    for r in t.rmrrs:
        v = verdict(r, t)
        end = r.end + PLANTED_SHIFT if plant_bug and v == "kept" else r.end
        named = [s for s in r.scopes if s.type in SCOPE_NAMES]
        if not named:
            lines.append(f"# RMRR at offset {r.offset:#x} [{_hex(r.base)}-{_hex(r.end)}] "
                         f"names no PCI device: {v}")
        for s in named:
            path = "/".join(f"{d:02x}.{f:x}" for d, f in s.path)
            lines.append(f"rmrr {r.base:#x} {end:#x} {SCOPE_NAMES[s.type]} "
                         f"{r.segment:04x}:{s.bus:02x} {path} {v}")
    return lines


def write_expectations(table, path, plant_bug=None):
    """Write the expectations file for `table` (bytes) to `path`.
    plant_bug None: as the environment's RMRR_EXPECT_PLANT_BUG says."""
    if plant_bug is None:
        plant_bug = os.environ.get(PLANT_BUG_ENV, "") == "1"
    with open(path, "w") as f:
        f.write("\n".join(expectations(table, plant_bug)) + "\n")
    return path
