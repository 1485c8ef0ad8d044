"""Hot-plug for the guest: QEMU's monitor (QMP), driven from the guest's output.

A scenario device with `hotplug = true` is left off QEMU's command line.
A test in the guest asks for it by printing, on the test output port,

    WB-QMP device_add NAME        or        WB-QMP device_del NAME

and waits for the device to appear in (or leave) sysfs; the runner sees
the line, sends the command to QEMU's monitor and writes what QEMU
answered into qmp.log.  The guest learns nothing back but what its own
kernel sees, which is the point: the hotplug goes through the emulated
root port's hotplug controller like a real one.
"""

import json
import re
import socket
import time

from . import qemu

REQUEST_RE = re.compile(r"WB-QMP (device_add|device_del) (\S+)")


class Monitor:
    def __init__(self, path, log, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.file = self.sock.makefile("rw", encoding="utf-8")
        self.log = log
        self._read()                          # the greeting
        self.execute("qmp_capabilities")

    def _read(self):
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("QEMU closed the monitor")
            msg = json.loads(line)
            self.log.write(line)
            if "event" not in msg:
                return msg

    def execute(self, command, **arguments):
        req = {"execute": command, "arguments": arguments} if arguments else {"execute": command}
        self.log.write(json.dumps(req) + "\n")
        self.file.write(json.dumps(req) + "\n")
        self.file.flush()
        return self._read()

    def close(self):
        self.file.close()
        self.sock.close()


def device_add_args(scenario, name):
    dev = next(d for d in scenario.devices if d.name == name and d.hotplug)
    props = qemu.device_props(scenario, dev)
    args = {"driver": props[0]}
    for p in props[1:]:
        k, v = p.split("=", 1)
        args[k] = v
    return args


class Hotplug:
    """Follows the guest's output file and carries out its requests."""

    def __init__(self, scenario, socket_path, output_path, log):
        self.scenario = scenario
        self.socket_path = socket_path
        self.output_path = output_path
        self.log = log
        self.offset = 0
        self.monitor = None

    def poll(self):
        try:
            with open(self.output_path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1          # whole lines only
        self.offset += end
        for m in REQUEST_RE.finditer(data[:end].decode("utf-8", "replace")):
            self.request(m.group(1), m.group(2))

    def request(self, command, name):
        if self.monitor is None:
            self.monitor = Monitor(self.socket_path, self.log)
        try:
            if command == "device_add":
                self.monitor.execute("device_add", **device_add_args(self.scenario, name))
            else:
                self.monitor.execute("device_del", id=name)
        except (StopIteration, OSError, ValueError) as e:
            self.log.write(f"# {command} {name} failed: {e}\n")

    def close(self):
        if self.monitor:
            self.monitor.close()
