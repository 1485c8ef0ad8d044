"""Real firmware DMAR tables as workbench scenarios.

The corpus (../shared/dmar-corpus, see its README.md) holds DMAR tables
dumped from real machines, each with RMRRs.  convert() turns one entry of
its corpus.json into a Scenario, or into a one-line reason why the table
cannot be reproduced on QEMU's q35 machine:

- the RMRRs and their device scopes stay as the firmware wrote them (type,
  start bus, path); the DRHD is QEMU's, as for every scenario (dmar.py);
- every scoped path gets a device: a one-hop path on bus 0 is a device in
  that slot on pcie.0, a two-hop path [(s, f), (0, fn)] is a
  pcie-root-port at s.f with the device at 00.fn below it, a path that
  starts on bus B > 0 is a device below the root port the firmware
  numbers B (empty root ports in free slots make up the count), and a
  bridge scope is a root port with one device below it;
- addresses stay when every RMRR fits in a guest smaller than q35's
  MMCONFIG base, else all of them move down by one constant that keeps
  their sizes, order and alignment; malformed RMRRs keep their bytes and
  are marked dangling (no memmap=).

Nothing here boots anything: corpus_run.py does that.
"""

import dataclasses
import json
import os

from . import scenario as sc_mod
from .scenario import Device, Port, Rmrr, Scenario, Scope

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Read at test time, never copied into this repository (the corpus README asks so).
DEFAULT_DIR = os.environ.get("WB_DMAR_CORPUS",
                             os.path.join(os.path.dirname(TOP), "shared", "dmar-corpus"))

MIB = 1 << 20
# q35 puts MMCONFIG at 0xb0000000.  It keeps all of -m below 4 GiB only
# while -m is less than that; from 0xb0000000 on it keeps 2 GiB below 4 GiB
# and moves the rest above, and RMRRs between would lie outside RAM.
MMCONFIG_BASE = 0xb0000000
MIN_MEMORY = 512 * MIB
MAX_MEMORY = MMCONFIG_BASE - 1 * MIB
MEMORY_STEP = 64 * MIB
# RAM wanted above the highest RMRR: with up to 2 GiB, QEMU loads the initrd
# at the top of RAM (above that, just below 2 GiB, and the kernel moves it
# out of a reserved range itself).  SeaBIOS keeps its tables in the last
# few hundred KiB, which is the least room an RMRR must leave.
TOP_SLACK = 16 * MIB
FIRMWARE_ROOM = 1 * MIB
# A moved RMRR stays above the kernel image (loaded at 16 MiB) and its
# early allocations.  Ranges below 1 MiB are the legacy BIOS area and can
# stay where the firmware put them.
LOW_FLOOR = 64 * MIB
LEGACY_TOP = 1 * MIB
# Shifts are tried at 256 MiB granularity first, so moved addresses keep
# their low 28 bits; 2 MiB is the least alignment a shift may keep.
SHIFT_ALIGNMENTS = (256 * MIB, 2 * MIB)
# A cap on ports plus devices, so one odd table cannot make a VM that takes
# minutes; the corpus needs 19 at most (table 52: 17 root ports).
MAX_QEMU_DEVICES = 30

FIRST_FREE_SLOT, LAST_FREE_SLOT = 0x01, 0x1e
# Functions of q35's own devices (-nodefaults keeps them): host bridge,
# LPC, SATA, SMBus.  A scope naming one needs no device of ours.
Q35_BUILTIN = {(0x00, 0), (0x1f, 0), (0x1f, 2), (0x1f, 3)}

# Slots whose function 0 is the same kind of device on every Intel PCH.
SLOT_MODELS = {0x14: "qemu-xhci", 0x1a: "ich9-usb-ehci1", 0x1d: "ich9-usb-ehci1",
               0x02: "bochs-display"}

# The lane's fixed sample (make test); `make corpus` runs every table.
# Picked by hand from tables that place and passed on the kernel of the
# first full run, one or more for each shape the corpus has:
#   servers with devices behind root ports: 6 (HP DL360 G7: two-hop paths
#     through 01.0, 03.0, 09.0 and 1c.4 functions 0/2/4, two RMRRs on 1c.4's
#     functions, UHCI/EHCI 1d.0-1d.3/1d.7, moved down), 3 (a device behind
#     02.0 with a 128 MiB RMRR, and shared USB), 1 (Supermicro X9DAi: one RMRR
#     shared by cards on buses 8 and 9 and two EHCIs), 4 (Dell R820: two
#     EHCIs with two RMRRs each);
#   scopes starting on a bus > 0 (empty root ports before them): 12 (buses
#     5 and 6), 16 (03:00.2, with a filler at 03:00.0), 52 (bus 0x11, 17 root
#     ports), 61 (bus 2 beside IGD and xHCI);
#   USB and graphics: 88 (xHCI and two EHCIs share a range, IGD has its own),
#     17 and 27 (IGD functions 0 and 1, UHCI/EHCI functions of 1a and 1d),
#     14 (eight RMRRs, one per USB function and one for IGD), 78 (xHCI with
#     two RMRRs), 21 (MacPro7,1: the same on a Mac), 34 (Atom xHCI at 15.0);
#   the ME at 00:16.7 (filler edu at 16.0) beside xHCI and IGD, one RMRR
#     each: 31 and 242 (notebooks), 161 (convertible), 344 (tablet);
#   other categories and layouts: 23 (Surface Pro), 32 (an RMRR below 1 MiB
#     kept in place, 2816 MiB guest), 157 (All In One), 171 (NUC).
# No table in the corpus has a bridge scope; scenarios/rmrr-shapes.toml and
# a unit test cover that.  Left out on purpose, though `make corpus` runs
# them and reports them failing: 26 (an RMRR with base = end = 0: Linux 6.12
# WARNs "DMA PTE for vPFN 0x0 already set" in intel_iommu_map_pages) and
# 28, 257, 259 (an RMRR at physical page 0, which the kernel accepts and
# identity-maps).  Both firmware bugs belong to the later hardening issue.
SAMPLE = [1, 3, 4, 6, 12, 14, 16, 17, 21, 23, 27, 31, 32, 34, 52, 61, 78, 88, 157, 161,
          171, 242, 344]


class Unplaceable(Exception):
    """A table this module cannot reproduce; the message is the reason."""


def load(corpus_dir=DEFAULT_DIR):
    with open(os.path.join(corpus_dir, "corpus.json")) as f:
        return json.load(f)


def by_id(entries):
    return {e["id"]: e for e in entries}


def convert(entry):
    """A Scenario for one corpus.json entry, or the reason (str) it is skipped."""
    try:
        return build(entry)
    except Unplaceable as e:
        return str(e)


def build(entry):
    rmrrs = firmware_rmrrs(entry)
    shift, memory = placement(rmrrs)
    moved = [move(r, shift) for r in rmrrs]
    ports, devices = topology(entry, rmrrs)
    sc = Scenario(name=f"corpus-{entry['id']}", description=describe(entry, rmrrs, shift),
                  memory=memory, cmdline=[], ports=ports, devices=devices, rmrrs=moved)
    sc_mod.enumerate_buses(sc.ports, sc.devices)
    check(sc)
    return sc


# --- RMRRs -----------------------------------------------------------------

def malformed(base, end):
    """The firmware bugs the kernel's own sanity check refuses."""
    return base == 0 or end <= base or base & 0xfff or (end + 1) & 0xfff


def firmware_rmrrs(entry):
    rmrrs = []
    for raw in entry["rmrr"]:
        if raw.get("segment", 0) != 0:
            raise Unplaceable(f"RMRR on PCI segment {raw['segment']} (q35 has segment 0 only)")
        scopes = [Scope(s["type"], s["bus"], [tuple(hop) for hop in s["path"]])
                  for s in raw["devices"]]
        for s in scopes:
            if s.type not in ("endpoint", "bridge"):
                raise Unplaceable(f"RMRR scope of type {s.type}")
        base, end = int(raw["base"], 16), int(raw["end"], 16)
        rmrrs.append(Rmrr(base, end, scopes, dangling=bool(malformed(base, end))))
    return rmrrs


def placement(rmrrs):
    """(shift, guest memory) that put every well-formed RMRR in guest RAM."""
    sound = [r for r in rmrrs if not r.dangling]
    if not sound:
        return 0, MIN_MEMORY
    top = max(r.end for r in sound)
    if top + 1 + FIRMWARE_ROOM <= MAX_MEMORY:
        shift = 0
        for r in sound:
            if LEGACY_TOP <= r.base < LOW_FLOOR:
                raise Unplaceable(f"RMRR {r.base:#x}-{r.end:#x} lies where the kernel is loaded")
    else:
        shift = downward_shift(sound)
    return shift, memory_for(top - shift)


def downward_shift(sound):
    """The largest shift, at the coarsest alignment that works, that moves
    the highest RMRR below MAX_MEMORY (with TOP_SLACK above it) and keeps
    the lowest one above LOW_FLOOR.  Largest, so the guest needs little RAM."""
    low = min(r.base for r in sound)
    high = max(r.end for r in sound)
    need = high + 1 + TOP_SLACK - MAX_MEMORY
    for align in SHIFT_ALIGNMENTS:
        shift = (low - LOW_FLOOR) // align * align
        if shift >= need:
            return shift
    raise Unplaceable(f"RMRRs span {low:#x}-{high:#x}: no single shift puts them all "
                      f"between {LOW_FLOOR >> 20} MiB and MMCONFIG at {MMCONFIG_BASE:#x}")


def memory_for(top):
    size = -(-(top + 1 + TOP_SLACK) // MEMORY_STEP) * MEMORY_STEP
    return min(max(size, MIN_MEMORY), MAX_MEMORY)


def move(r, shift):
    # Dangling ranges keep their bytes: they are firmware bugs under test.
    if r.dangling or not shift:
        return dataclasses.replace(r, scopes=list(r.scopes))
    return dataclasses.replace(r, base=r.base - shift, end=r.end - shift, scopes=list(r.scopes))


# --- topology --------------------------------------------------------------

@dataclasses.dataclass
class Wanted:
    """Where the table's scopes need devices, before slots are numbered."""
    root: dict = dataclasses.field(default_factory=dict)     # (dev, fn) on bus 0 -> label
    ports: dict = dataclasses.field(default_factory=dict)    # (dev, fn) -> {fn below: label}
    on_bus: dict = dataclasses.field(default_factory=dict)   # start bus -> {fn: label}


def topology(entry, rmrrs):
    wanted = Wanted()
    labels = scope_labels(entry)
    for r in rmrrs:
        for s in r.scopes:
            want(wanted, s, labels.get((s.bus, tuple(s.path)), ""))
    clashing = {d for d, _ in wanted.root} & {d for d, _ in wanted.ports}
    if clashing:
        raise Unplaceable(f"slot {min(clashing):02x} holds both endpoints and root ports")
    ports = root_ports(wanted)
    devices = root_devices(wanted) + devices_below(wanted, ports)
    if len(ports) + len(devices) > MAX_QEMU_DEVICES:
        raise Unplaceable(f"needs {len(ports) + len(devices)} QEMU devices "
                          f"(more than {MAX_QEMU_DEVICES})")
    return ports, devices


def scope_labels(entry):
    """The corpus's guess of what each scoped device is, by (bus, path)."""
    return {(s["bus"], tuple(tuple(h) for h in s["path"])): s.get("likely", "")
            for r in entry["rmrr"] for s in r["devices"]}


def want(wanted, s, label):
    """Record the device one scope needs, or say why QEMU cannot have it."""
    where = s.describe()
    if s.bus == 0 and len(s.path) == 1:
        dev, fn = s.path[0]
        if s.type == "bridge":
            if dev in (0x00, 0x1f):
                raise Unplaceable(f"{where}: slot {dev:02x} belongs to q35")
            wanted.ports.setdefault((dev, fn), {}).setdefault(0, "")
        elif (dev, fn) in Q35_BUILTIN:
            return
        elif dev in (0x00, 0x1f):
            raise Unplaceable(f"{where}: q35 has no function {fn} in slot {dev:02x}")
        else:
            wanted.root[(dev, fn)] = label
    elif s.bus == 0 and len(s.path) == 2:
        (dev, fn), (below, below_fn) = s.path
        if s.type == "bridge":
            raise Unplaceable(f"{where}: a bridge below a root port")
        if below != 0:
            raise Unplaceable(f"{where}: below a root port only device 00 exists")
        if dev in (0x00, 0x1f):
            raise Unplaceable(f"{where}: slot {dev:02x} belongs to q35")
        wanted.ports.setdefault((dev, fn), {})[below_fn] = label
    elif s.bus != 0 and len(s.path) == 1 and s.type == "endpoint":
        dev, fn = s.path[0]
        if dev != 0:
            raise Unplaceable(f"{where}: a bus behind a root port has only device 00")
        wanted.on_bus.setdefault(s.bus, {})[fn] = label
    else:
        raise Unplaceable(f"{where}: {len(s.path)}-hop {s.type} path from bus {s.bus:#x}")


def model_for(label, slot=None):
    """The QEMU model closest to what the firmware's device likely is."""
    text = label.lower()
    if "xhci" in text:
        return "qemu-xhci"
    if "usb" in text or "uhci" in text or "ehci" in text:
        return "ich9-usb-ehci1"
    if "igd" in text or "graphics" in text or "display" in text:
        return "bochs-display"
    if slot is not None and slot[1] == 0 and slot[0] in SLOT_MODELS:
        return SLOT_MODELS[slot[0]]
    return "edu"


def with_function_zero(functions):
    """Linux only scans functions 1-7 of a slot whose function 0 exists."""
    return sorted(set(functions) | {0})


def root_devices(wanted):
    devices = []
    for dev in sorted({d for d, _ in wanted.root}):
        for fn in with_function_zero(f for d, f in wanted.root if d == dev):
            label = wanted.root.get((dev, fn))
            # A filler at function 0 is a plain edu: no RMRR names it.
            model = model_for(label, (dev, fn)) if label is not None else "edu"
            devices.append(Device(f"ep_00_{dev:02x}_{fn}", model, dev, fn, None,
                                  label if label is not None else "filler"))
    return devices


def root_ports(wanted):
    """The root ports the paths name, a port at function 0 of each of their
    slots, and empty ports in free slots until the highest start bus a
    scope names exists.  enumerate_buses() numbers them in slot order."""
    slots = set(wanted.ports)
    for dev in {d for d, _ in wanted.ports}:
        # Function 0 of a root-port slot is another root port, not an edu:
        # qemu.py sets multifunction=on among ports only.
        slots.add((dev, 0))
    highest_bus = max(wanted.on_bus, default=0)
    taken = {d for d, _ in wanted.root} | {d for d, _ in slots}
    free = [d for d in range(FIRST_FREE_SLOT, LAST_FREE_SLOT + 1) if d not in taken]
    missing = highest_bus - len(slots)
    if missing > len(free):
        raise Unplaceable(f"bus {highest_bus:#x} needs {missing} more root ports "
                          f"than q35 has free slots")
    # Empty ports take the lowest free slots.  Which port ends up with a
    # scope's start bus does not matter to the kernel, only that one does.
    slots |= {(d, 0) for d in free[:max(missing, 0)]}
    return [Port(f"rp_{dev:02x}_{fn}", dev, fn) for dev, fn in sorted(slots)]


def devices_below(wanted, ports):
    """Endpoints below root ports: those two-hop paths name, and those on
    the bus a scope starts from (whichever port the firmware numbers so)."""
    # Number a copy: the ports themselves are numbered once, in build().
    probe = [dataclasses.replace(p) for p in ports]
    sc_mod.enumerate_buses(probe, [])
    slot_of_bus = {p.bus: (p.dev, p.fn) for p in probe}
    below = {slot: dict(functions) for slot, functions in wanted.ports.items()}
    for bus, functions in wanted.on_bus.items():
        below.setdefault(slot_of_bus[bus], {}).update(functions)
    devices = []
    by_slot = {(p.dev, p.fn): p for p in ports}
    for slot in sorted(below):
        port = by_slot[slot]
        for fn in with_function_zero(below[slot]):
            label = below[slot].get(fn)
            model = model_for(label) if label is not None else "edu"
            devices.append(Device(f"ep_{port.dev:02x}_{port.fn}_00_{fn}", model, 0, fn,
                                  port.name, label if label is not None else "filler"))
    return devices


# --- checks and words -------------------------------------------------------

def check(sc):
    """scenario.check_topology() on a view without the scopes that name q35's
    own functions (the scenario does not list those as devices)."""
    def ours(s):
        return not (s.bus == 0 and len(s.path) == 1 and tuple(s.path[0]) in Q35_BUILTIN)
    view = dataclasses.replace(sc, rmrrs=[dataclasses.replace(r, scopes=[s for s in r.scopes if ours(s)])
                                          for r in sc.rmrrs])
    try:
        sc_mod.check_topology(view)
    except sc_mod.ScenarioError as e:
        raise Unplaceable(f"topology check: {e}") from e


def describe(entry, rmrrs, shift):
    text = (f"{entry['model']} ({entry['category']}), DMAR corpus table {entry['id']} "
            f"from {entry['source']}.")
    if shift:
        text += (f" RMRRs moved down by {shift:#x} into guest RAM (q35 has MMCONFIG at "
                 f"{MMCONFIG_BASE:#x}); sizes, order and sharing are the firmware's.")
    bad = sum(r.dangling for r in rmrrs)
    if bad:
        text += f" {bad} malformed RMRR(s) kept as written, without memmap=."
    return text
