"""Boot the test kernel on a scenario, run a script in it, judge the result.

The guest writes the kernel console to the first serial port and the test
output to the second; both land in files in the log directory.  A run
passes only if the script's exit status is 0 *and* the kernel console is
free of the reports below, whatever the test printed.
"""

import dataclasses
import os
import re
import subprocess
import time

from . import dmar, initramfs, ivrs, qemu, qmp

# A line of the kernel console that fails any run.
KERNEL_PROBLEMS = re.compile(
    r"Kernel panic|BUG:|WARNING:|Oops|general protection fault|"
    r"KASAN|UBSAN|possible circular locking|possible recursive locking|"
    r"inconsistent lock state|suspicious RCU usage|kmemleak: .*new suspected|"
    r"INFO: task .* blocked for more than|watchdog: BUG|Call Trace:")

EXIT_RE = re.compile(r"^WB-EXIT (\d+)\s*$", re.M)


@dataclasses.dataclass
class Result:
    status: int                  # the guest script's exit status, or -1
    output: str                  # what the script printed (second serial port)
    console: str                 # the kernel console
    problems: list               # console lines that fail the run
    elapsed: float
    timed_out: bool
    log_dir: str

    @property
    def ok(self):
        return self.status == 0 and not self.problems and not self.timed_out

    def verdict(self):
        if self.timed_out:
            return "timed out"
        if self.status < 0:
            return "no exit status (guest died before the script ended)"
        if self.problems:
            return f"kernel reported: {self.problems[0].strip()}"
        return f"exit status {self.status}" if self.status else "ok"


def kernel_problems(console):
    return [line for line in console.splitlines() if KERNEL_PROBLEMS.search(line)]


def wait(proc, timeout, plugger):
    """Until QEMU exits; meanwhile carry out the guest's hotplug requests."""
    if not plugger:
        proc.wait(timeout=timeout)
        return
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        plugger.poll()
        time.sleep(0.1)


def firmware_table(scenario):
    """The table the initrd puts in place of QEMU's: (file name, bytes)."""
    if scenario.iommu_mode == "amd":
        return "ivrs.aml", ivrs.build(scenario)
    return "dmar.aml", dmar.build(scenario)


def run(scenario, kernel, run_script, log_dir, test_files=(), timeout=300,
        extra_cmdline=(), table=None):
    """Boot `kernel` on `scenario`, run `run_script` (shell text) inside."""
    os.makedirs(log_dir, exist_ok=True)
    initrd = os.path.join(log_dir, "initrd.img")
    console_log = os.path.join(log_dir, "console.log")
    output_log = os.path.join(log_dir, "output.log")
    for f in (console_log, output_log):
        if os.path.exists(f):
            os.unlink(f)
    name, own = firmware_table(scenario)
    table = table if table is not None else own
    initramfs.build(initrd, table, scenario.name, run_script, test_files, name)
    hotplug = any(d.hotplug for d in scenario.devices)
    qmp_socket = os.path.join(log_dir, "qmp.sock") if hotplug else None
    if qmp_socket and os.path.exists(qmp_socket):
        os.unlink(qmp_socket)
    cmd = qemu.command(scenario, kernel, initrd, console_log, output_log, extra_cmdline,
                       qmp_socket=qmp_socket)
    with open(os.path.join(log_dir, "qemu.cmd"), "w") as f:
        f.write(" ".join(cmd) + "\n")

    start = time.monotonic()
    timed_out = False
    mlog = open(os.path.join(log_dir, "qmp.log"), "w") if hotplug else None
    with open(os.path.join(log_dir, "qemu.log"), "wb") as qlog:
        proc = subprocess.Popen(cmd, stdout=qlog, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        plugger = qmp.Hotplug(scenario, qmp_socket, output_log, mlog) if hotplug else None
        try:
            wait(proc, timeout, plugger)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
        finally:
            if plugger:
                plugger.close()
                mlog.close()
    elapsed = time.monotonic() - start

    def read(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read().replace("\r", "")
        except FileNotFoundError:
            return ""

    console, output = read(console_log), read(output_log)
    m = EXIT_RE.search(output)
    status = int(m.group(1)) if m else -1
    if m:
        output = output[:m.start()]
    output = output.split("WB-START", 1)[-1].split("\n", 1)[-1] if "WB-START" in output else output
    return Result(status, output, console, kernel_problems(console), elapsed, timed_out, log_dir)
