"""Scenario files: one TOML file per machine topology.

A scenario says what the emulated machine looks like and what the firmware
claims about it; nothing in it is code.  Example::

    description = "one edu endpoint with a private RMRR"
    memory = "1G"
    cmdline = ["no_timer_check"]

    [[port]]                  # a pcie-root-port on pcie.0
    name = "rp1"
    slot = "01.0"

    [[device]]
    name = "nic"
    model = "edu"             # edu | qemu-xhci | ich9-usb-ehci1 | bochs-display
    port = "rp1"              # omit for a device on bus 0
    slot = "00.0"
    # hotplug = true          # not there at boot: the guest prints
                              # "WB-QMP device_add nic" and the runner adds
                              # it through QEMU's monitor (device_del too)

    [[rmrr]]
    base = 0x3df7f000
    end = 0x3df8efff          # inclusive, as in the DMAR table
    scope = [ { type = "endpoint", bus = 0, path = ["01.0", "00.0"] } ]

    [tests]                   # what the test lane expects of this machine
    env = { RMRR_TEST_DEVICE = "0000:01:00.0" }
    must_run = ["rmrr_vfio.vfio_rmrr.set_container_refused"]   # a SKIP fails

    [[ivmd]]                  # AMD: an IVMD block (iommu_mode = "amd")
    type = "device"           # device (21h) | range (22h) | all (20h)
    devices = ["nic"]         # device: one name; range: first and last
                              # (names or "BB:DD.F"); all: none
    base = 0x3e000000
    end = 0x3e000fff          # inclusive, like an RMRR
    flags = ["unity", "ir", "iw"]   # or ["exclusion"]

    [[reserve]]               # optional: one e820 reservation for the
    base = 0x3f000000         # RMRRs inside it, instead of one memmap=
    end = 0x3f0fffff          # per RMRR (the kernel command line is short)

    [[variant]]               # the same machine booted again, differently
    name = "split"            # run as "<scenario>+split"
    cmdline = ["iommu.direct_share_groups=0"]
    must_run = [...]          # replaces the scenario's list
    kernel = "compat"         # optional: boot build/bzImage-compat instead
    iommu_mode = "scalable"   # optional: QEMU's VT-d in scalable mode
                              # (x-scalable-mode=on); "legacy" by default;
                              # "amd" is QEMU's amd-iommu with an IVRS
                              # table (the scenario's [[ivmd]]) instead
    memory = "2G"             # optional: other guest RAM
    share_host = true         # optional: the host's / read-only over 9p
                              # (mount tag "hostroot"), for tests that run
                              # the host's own programs, e.g. its QEMU
    tests = ["l2_qemu.sh"]    # optional: these VM tests instead of the lane's
    debug_must_run = [...]    # also required on the debug kernel (lane --debug):
                              # tests that need fault injection or sanitizers

Root-port secondary bus numbers follow the firmware's depth-first
enumeration: ports sorted by slot get buses 1, 2, 3 ...  Every scope must
name a device or port of the topology unless the RMRR says
``dangling = true`` (for hostile-firmware scenarios).  An RMRR that names
real devices but does not start and end on 4 KiB pages says
``unaligned = true``; its whole pages are reserved in the e820 map.  An
RMRR with ``in_ram = true`` is not reserved at all: it stays usable RAM,
as some firmware leaves it (a firmware bug the kernel warns about).
"""

import dataclasses
import os
import tomllib

MODELS = {
    # model: (QEMU device, PCI class code of the function, extra properties)
    "edu": ("edu", 0x00ff00, "dma_mask=0xffffffffffffffff"),
    "qemu-xhci": ("qemu-xhci", 0x0c0330, ""),
    "ich9-usb-ehci1": ("ich9-usb-ehci1", 0x0c0320, ""),
    "bochs-display": ("bochs-display", 0x038000, ""),
}

# Slots QEMU's q35 machine occupies itself with -nodefaults.
Q35_RESERVED_SLOTS = {0x00, 0x1f}


class ScenarioError(Exception):
    pass


def parse_devfn(text):
    """'1c.2' -> (0x1c, 2)"""
    try:
        dev, fn = text.split(".")
        dev, fn = int(dev, 16), int(fn, 8)
    except ValueError as e:
        raise ScenarioError(f"bad slot '{text}': want DD.F in hex") from e
    if dev > 0x1f or fn > 7:
        raise ScenarioError(f"bad slot '{text}': device <= 1f, function <= 7")
    return dev, fn


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if isinstance(text, int):
        return text
    if text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text, 0)


@dataclasses.dataclass
class Port:
    name: str
    dev: int
    fn: int
    bus: int = 0          # secondary bus, assigned by enumerate_buses()
    chassis: int = 0

    @property
    def bdf(self):
        return f"00:{self.dev:02x}.{self.fn}"


@dataclasses.dataclass
class Device:
    name: str
    model: str
    dev: int
    fn: int
    port: str | None
    label: str = ""
    bus: int = 0
    hotplug: bool = False  # absent at boot; the guest asks for it (vm.py)

    @property
    def bdf(self):
        return f"{self.bus:02x}:{self.dev:02x}.{self.fn}"

    @property
    def pci_class(self):
        return MODELS[self.model][1]


@dataclasses.dataclass
class Scope:
    type: str             # endpoint | bridge
    bus: int
    path: list            # [(dev, fn), ...]

    def describe(self):
        hops = "/".join(f"{d:02x}.{f}" for d, f in self.path)
        return f"{self.type} {self.bus:02x}:{hops}"


class MemoryRange:
    """A firmware range [base, end] (inclusive), RMRR or IVMD."""

    @property
    def size(self):
        return self.end - self.base + 1

    @property
    def pages(self):
        """The 4 KiB pages the range touches, as (first byte, last byte)."""
        return self.base & ~0xfff, self.end | 0xfff


@dataclasses.dataclass
class Rmrr(MemoryRange):
    base: int
    end: int
    scopes: list
    dangling: bool = False
    unaligned: bool = False     # names real devices, but not on 4 KiB pages
    in_ram: bool = False        # left as usable RAM: no e820 reservation


@dataclasses.dataclass
class Ivmd(MemoryRange):
    kind: str             # all | device | range
    flags: int            # IVMD flags byte (ivrs.IVMD_FLAGS)
    first: int            # device ID (bus << 8 | devfn)
    last: int
    base: int
    end: int              # inclusive


@dataclasses.dataclass
class Scenario:
    name: str
    description: str
    memory: int
    cmdline: list
    ports: list
    devices: list
    rmrrs: list
    smp: int = 1
    test_env: dict = dataclasses.field(default_factory=dict)
    must_run: list = dataclasses.field(default_factory=list)
    debug_must_run: list = dataclasses.field(default_factory=list)
    variants: list = dataclasses.field(default_factory=list)
    # Extra e820 reservations [(base, end)], each one memmap=: the RMRRs
    # inside one need none of their own (the kernel command line holds
    # 2047 characters, a benchmark's 64 RMRRs would not fit).
    reserves: list = dataclasses.field(default_factory=list)
    # Another kernel build for this boot: "compat" is build/bzImage-compat.
    kernel: str = ""
    # The host's root file system, read only, as 9p mount tag "hostroot".
    share_host: bool = False
    # The VM tests this boot runs, when not the lane's usual list.
    tests: list = dataclasses.field(default_factory=list)
    # QEMU's VT-d: "legacy", or "scalable" (x-scalable-mode=on); or "amd".
    iommu_mode: str = "legacy"
    # AMD IVMD blocks (iommu_mode "amd").
    ivmds: list = dataclasses.field(default_factory=list)

    def device_at(self, bdf):
        for d in self.devices:
            if d.bdf == bdf:
                return d
        return None

    def resolve(self, scope):
        """Follow a scope's path the way the kernel does: from its start
        bus through bridges.  Returns the Port or Device it names, or None."""
        bus = scope.bus
        target = None
        for i, (dev, fn) in enumerate(scope.path):
            target = None
            if bus == 0:
                target = next((p for p in self.ports if (p.dev, p.fn) == (dev, fn)), None)
            if target is None:
                target = next((d for d in self.devices
                               if (d.bus, d.dev, d.fn) == (bus, dev, fn)), None)
            if target is None:
                return None
            if i + 1 < len(scope.path):
                if not isinstance(target, Port):
                    return None
                bus = target.bus
        return target

    def scope_devices(self, scope):
        """Devices an RMRR scope covers: the endpoint, or all below a bridge."""
        target = self.resolve(scope)
        if isinstance(target, Port):
            return [d for d in self.devices if d.port == target.name]
        return [target] if target else []


def _scope(raw, where):
    kind = raw.get("type", "endpoint")
    if kind not in ("endpoint", "bridge"):
        raise ScenarioError(f"{where}: scope type '{kind}' is not endpoint or bridge")
    path = [parse_devfn(p) for p in raw["path"]]
    if not path:
        raise ScenarioError(f"{where}: scope path is empty")
    return Scope(kind, int(raw.get("bus", 0)), path)


def enumerate_buses(ports, devices):
    """Give root ports their secondary bus the way SeaBIOS does (depth
    first, in slot order) and place devices on them."""
    for n, port in enumerate(sorted(ports, key=lambda p: (p.dev, p.fn)), start=1):
        port.bus = n
        port.chassis = n
    by_name = {p.name: p for p in ports}
    for d in devices:
        if d.port is not None:
            if d.port not in by_name:
                raise ScenarioError(f"device {d.name}: no port named '{d.port}'")
            d.bus = by_name[d.port].bus


def check_topology(sc):
    seen = {}
    for p in sc.ports:
        key = (0, p.dev, p.fn)
        if p.dev in Q35_RESERVED_SLOTS:
            raise ScenarioError(f"port {p.name}: slot {p.dev:02x} belongs to q35")
        if key in seen:
            raise ScenarioError(f"port {p.name}: 00:{p.dev:02x}.{p.fn} already used by {seen[key]}")
        seen[key] = p.name
    for d in sc.devices:
        key = (d.bus, d.dev, d.fn)
        if d.bus == 0 and d.dev in Q35_RESERVED_SLOTS:
            raise ScenarioError(f"device {d.name}: slot {d.dev:02x} belongs to q35")
        if d.port is not None and d.dev != 0:
            raise ScenarioError(f"device {d.name}: behind a root port only slot 00 exists")
        if key in seen:
            raise ScenarioError(f"device {d.name}: {d.bdf} already used by {seen[key]}")
        seen[key] = d.name
    # A multi-function slot needs function 0.
    for d in sc.devices + sc.ports:
        if d.fn != 0:
            bus = getattr(d, "port", None)
            if not any(o.dev == d.dev and o.fn == 0 and getattr(o, "port", None) == bus
                       for o in sc.devices + sc.ports):
                raise ScenarioError(f"{d.name}: function {d.fn} without function 0")
    for i, r in enumerate(sc.rmrrs):
        where = f"rmrr[{i}] {r.base:#x}-{r.end:#x}"
        if r.dangling:
            continue
        if r.end < r.base:
            raise ScenarioError(f"{where}: inverted range (set dangling = true for bad firmware)")
        if (r.base & 0xfff or (r.end + 1) & 0xfff) and not r.unaligned:
            raise ScenarioError(f"{where}: not a 4 KiB aligned range (set unaligned = true "
                                "to test such firmware, dangling = true for bad firmware)")
        if r.end >= sc.memory:
            raise ScenarioError(f"{where}: beyond guest RAM ({sc.memory:#x})")
        for s in r.scopes:
            target = sc.resolve(s)
            if target is None:
                raise ScenarioError(f"{where}: scope {s.describe()} names no device")
            if (s.type == "bridge") != isinstance(target, Port):
                raise ScenarioError(f"{where}: scope {s.describe()} type does not match {target.name}")


# The keys each table of a scenario file may have.  Anything else is a
# typo ("mustrun = [...]" would otherwise load as an empty must_run list
# and quietly require nothing), so load() refuses it.
KEYS = {
    "": {"description", "memory", "cmdline", "smp", "port", "device", "rmrr",
         "tests", "reserve", "variant", "iommu_mode", "ivmd"},
    "ivmd": {"type", "devices", "base", "end", "flags"},
    "port": {"name", "slot"},
    "device": {"name", "model", "port", "slot", "label", "hotplug"},
    "rmrr": {"base", "end", "scope", "dangling", "unaligned", "in_ram"},
    "scope": {"type", "bus", "path"},
    "tests": {"env", "must_run", "debug_must_run"},
    "reserve": {"base", "end"},
    "variant": {"name", "cmdline", "must_run", "debug_must_run", "kernel", "memory",
                "share_host", "tests", "env", "iommu_mode"},
}


def check_keys(raw):
    """Refuse a key that no part of the workbench reads."""
    def unknown(table, kind, where):
        if not isinstance(table, dict):
            raise ScenarioError(f"{where}: expected a table, got {type(table).__name__}")
        extra = sorted(set(table) - KEYS[kind])
        if extra:
            raise ScenarioError(f"{where}: unknown key{'s' if len(extra) > 1 else ''} "
                                f"{', '.join(extra)} (known: {', '.join(sorted(KEYS[kind]))})")

    unknown(raw, "", "scenario")
    for kind in ("port", "device", "rmrr", "reserve", "variant", "ivmd"):
        for i, table in enumerate(raw.get(kind, [])):
            unknown(table, kind, f"{kind}[{i}]")
            for j, s in enumerate(table.get("scope", []) if kind == "rmrr" else []):
                unknown(s, "scope", f"rmrr[{i}].scope[{j}]")
    if "tests" in raw:
        unknown(raw["tests"], "tests", "tests")


IOMMU_MODES = ("legacy", "scalable", "amd")
IVMD_TYPES = ("all", "device", "range")
IVMD_FLAGS = {"unity": 0x1, "ir": 0x2, "iw": 0x4, "exclusion": 0x8}


def _devid(sc, name, where):
    """A device named by the scenario, or "BB:DD.F", as a device ID."""
    d = next((d for d in sc.devices if d.name == name), None)
    if d is not None:
        return d.bus << 8 | d.dev << 3 | d.fn
    try:
        bus, devfn = name.split(":")
        dev, fn = parse_devfn(devfn)
        return int(bus, 16) << 8 | dev << 3 | fn
    except (ValueError, ScenarioError):
        raise ScenarioError(f"{where}: '{name}' is no device of the scenario "
                            "and no BB:DD.F") from None


def _ivmd(sc, raw, i):
    where = f"ivmd[{i}]"
    kind = raw.get("type", "device")
    if kind not in IVMD_TYPES:
        raise ScenarioError(f"{where}: type '{kind}' is not one of {', '.join(IVMD_TYPES)}")
    names = list(raw.get("devices", []))
    want = {"all": 0, "device": 1, "range": 2}[kind]
    if len(names) != want:
        raise ScenarioError(f"{where}: type {kind} names {want} device(s), not {len(names)}")
    ids = [_devid(sc, n, where) for n in names] or [0]
    flags = 0
    for f in raw.get("flags", ["unity", "ir", "iw"]):
        if f not in IVMD_FLAGS:
            raise ScenarioError(f"{where}: flag '{f}' is not one of {', '.join(IVMD_FLAGS)}")
        flags |= IVMD_FLAGS[f]
    m = Ivmd(kind, flags, ids[0], ids[-1], int(raw["base"]), int(raw["end"]))
    if m.end < m.base or m.end >= sc.memory:
        raise ScenarioError(f"{where}: range {m.base:#x}-{m.end:#x} is inverted or beyond RAM")
    if m.last < m.first:
        raise ScenarioError(f"{where}: device range ends before it starts")
    return m


def iommu_mode(raw, where, default):
    mode = raw.get("iommu_mode", default)
    if mode not in IOMMU_MODES:
        raise ScenarioError(f"{where}: iommu_mode '{mode}' is not one of {', '.join(IOMMU_MODES)}")
    return mode


def load(path):
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    try:
        check_keys(raw)
    except ScenarioError as e:
        raise ScenarioError(f"{path}: {e}") from None
    name = os.path.splitext(os.path.basename(path))[0]
    ports = [Port(p["name"], *parse_devfn(p["slot"])) for p in raw.get("port", [])]
    devices = []
    for d in raw.get("device", []):
        if d["model"] not in MODELS:
            raise ScenarioError(f"device {d['name']}: unknown model '{d['model']}' "
                                f"(known: {', '.join(MODELS)})")
        devices.append(Device(d["name"], d["model"], *parse_devfn(d["slot"]),
                              d.get("port"), d.get("label", ""),
                              hotplug=bool(d.get("hotplug", False))))
        if devices[-1].hotplug and not devices[-1].port:
            raise ScenarioError(f"device {d['name']}: hotplug needs a root port")
    rmrrs = []
    for i, r in enumerate(raw.get("rmrr", [])):
        scopes = [_scope(s, f"rmrr[{i}]") for s in r.get("scope", [])]
        rmrrs.append(Rmrr(int(r["base"]), int(r["end"]), scopes, bool(r.get("dangling", False)),
                          bool(r.get("unaligned", False)), bool(r.get("in_ram", False))))
    tests = raw.get("tests", {})
    sc = Scenario(name, raw.get("description", ""), parse_size(raw.get("memory", "1G")),
                  list(raw.get("cmdline", [])), ports, devices, rmrrs, int(raw.get("smp", 1)),
                  dict(tests.get("env", {})), list(tests.get("must_run", [])),
                  list(tests.get("debug_must_run", [])))
    sc.reserves = [(int(r["base"]), int(r["end"])) for r in raw.get("reserve", [])]
    sc.iommu_mode = iommu_mode(raw, "scenario", sc.iommu_mode)
    enumerate_buses(sc.ports, sc.devices)
    check_topology(sc)
    sc.ivmds = [_ivmd(sc, m, i) for i, m in enumerate(raw.get("ivmd", []))]
    if sc.ivmds and sc.iommu_mode != "amd":
        raise ScenarioError(f"{path}: [[ivmd]] needs iommu_mode = \"amd\"")
    if sc.iommu_mode == "amd" and (sc.rmrrs or any(p.dev == 0x01 for p in sc.ports) or
                                   any(d.bus == 0 and d.dev == 0x01 for d in sc.devices)):
        raise ScenarioError(f"{path}: an amd scenario has no [[rmrr]], and slot 01 "
                            "on bus 0 belongs to QEMU's amd-iommu")
    for v in raw.get("variant", []):
        variant = dataclasses.replace(
            sc, name=f"{name}+{v['name']}", cmdline=sc.cmdline + list(v.get("cmdline", [])),
            memory=parse_size(v["memory"]) if "memory" in v else sc.memory,
            test_env={**sc.test_env, **v.get("env", {})},
            must_run=list(v.get("must_run", [])),
            debug_must_run=list(v.get("debug_must_run", [])), variants=[],
            kernel=v.get("kernel", ""), share_host=bool(v.get("share_host", False)),
            tests=list(v.get("tests", [])),
            iommu_mode=iommu_mode(v, f"variant {v['name']}", sc.iommu_mode))
        if variant.memory != sc.memory:
            check_topology(variant)
        sc.variants.append(variant)
    return sc
