"""A scenario as a QEMU command line and kernel arguments."""

from . import scenario as sc_mod

BASE_ARGS = [
    "-machine", "q35",
    "-accel", "tcg",
    "-cpu", "max",
    "-nodefaults", "-no-reboot", "-display", "none",
]

# no5lvl: QEMU's "max" CPU has LA57, and 6.12 clears boot_cpu_data's
# capabilities while identify_cpu() re-reads them; an interrupt in that
# window makes KASAN see the 5-level direct map (0xff11...) as a wild
# address ("BUG: KASAN: wild-memory-access in do_raw_spin_lock" from
# handle_edge_irq, 0.002 s into the boot, 6 times in ~300 debug boots).
# Four-level paging, as on most hosts, has no such window.
BASE_CMDLINE = [
    "console=ttyS0,115200", "panic=-1", "oops=panic", "no_timer_check",
    "intel_iommu=on", "tsc=unstable", "no5lvl",
]


# QEMU's VT-d: legacy mode, or scalable mode (VT-d 3.0, what Debian's
# kernel uses on every host that has it).
IOMMU_DEVICE = {
    "legacy": "intel-iommu,intremap=on",
    "scalable": "intel-iommu,intremap=on,x-scalable-mode=on",
    "amd": "amd-iommu,intremap=on",
}


def memmap_args(scenario):
    """memmap=SIZE$ADDR marks each RMRR reserved in the e820 map, as real
    firmware must (VT-d spec 8.4); otherwise the kernel's sanity check
    complains and the range is ordinary RAM."""
    def reserved(r):
        return any(b <= r.base and r.end <= e for b, e in scenario.reserves)

    def memmap(r):
        first, last = r.pages
        return f"memmap={last - first + 1:#x}${first:#x}"

    # IVMD blocks of several devices often repeat one range: reserve it once.
    ivmds = sorted({memmap(m) for m in scenario.ivmds if not reserved(m)})
    return ([f"memmap={e - b + 1:#x}${b:#x}" for b, e in scenario.reserves] +
            [memmap(r) for r in scenario.rmrrs
             if not r.dangling and not r.in_ram and r.size > 0 and not reserved(r)] +
            ivmds)


def kernel_cmdline(scenario, extra=()):
    return BASE_CMDLINE + memmap_args(scenario) + list(scenario.cmdline) + list(extra)


def _multifunction(item, others):
    return any(o is not item and o.dev == item.dev and
               getattr(o, "port", None) == getattr(item, "port", None)
               for o in others)


def device_args(scenario):
    args = []
    for p in sorted(scenario.ports, key=lambda p: (p.dev, p.fn)):
        props = [f"pcie-root-port,id={p.name},bus=pcie.0,addr={p.dev:#x}.{p.fn}",
                 f"chassis={p.chassis},slot={p.chassis}"]
        if _multifunction(p, scenario.ports):
            props.append("multifunction=on")
        args += ["-device", ",".join(props)]
    for d in sorted(scenario.devices, key=lambda d: (d.bus, d.dev, d.fn)):
        if not d.hotplug:
            args += ["-device", ",".join(device_props(scenario, d))]
    return args


def device_props(scenario, d):
    """QEMU's -device properties of `d`, also what device_add is given."""
    model, _, extra = sc_mod.MODELS[d.model]
    props = [model, f"id={d.name}", f"bus={d.port or 'pcie.0'}", f"addr={d.dev:#x}.{d.fn}"]
    if extra:
        props.append(extra)
    # Every function says it is part of a multi-function device, as
    # real multi-function hardware does; Linux reads the bit per function
    # when a device is hot-added or rescanned.
    if _multifunction(d, scenario.devices):
        props.append("multifunction=on")
    return props


def share_host_args(scenario):
    """The host's / for the guest, read only, as 9p tag "hostroot": the
    guest mounts it and runs the host's own binaries unmodified, the way
    virtme does.  multidevs=remap keeps inode numbers unique across the
    host's mounts.  It comes after the scenario's devices, so it takes
    the first PCI slot they leave free."""
    if not scenario.share_host:
        return []
    return ["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,"
                       "readonly=on,multidevs=remap"]


def command(scenario, kernel, initrd, console_log, output_log, extra_cmdline=(),
            qemu="qemu-system-x86_64", qmp_socket=None):
    mem_mib = scenario.memory >> 20
    monitor = ["-qmp", f"unix:{qmp_socket},server=on,wait=off"] if qmp_socket else []
    return ([qemu] + BASE_ARGS + ["-device", IOMMU_DEVICE[scenario.iommu_mode]] +
            ["-m", f"{mem_mib}M", "-smp", str(scenario.smp),
             "-kernel", kernel, "-initrd", initrd,
             "-append", " ".join(kernel_cmdline(scenario, extra_cmdline)),
             "-serial", f"file:{console_log}", "-serial", f"file:{output_log}"] +
            monitor + device_args(scenario) + share_host_args(scenario))
