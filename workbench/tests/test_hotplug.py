import io
import os
import tempfile
import unittest

from workbench import qemu, qmp, scenario

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class FakeMonitor:
    def __init__(self):
        self.calls = []

    def execute(self, command, **arguments):
        self.calls.append((command, arguments))
        return {"return": {}}

    def close(self):
        pass


class Hotplug(unittest.TestCase):
    def setUp(self):
        self.sc = scenario.load(os.path.join(TOP, "scenarios/hotplug.toml"))

    def test_hotplug_device_is_off_the_command_line(self):
        args = " ".join(qemu.device_args(self.sc))
        self.assertIn("id=a,bus=rp1", args)
        self.assertNotIn("id=b,", args)
        cmd = qemu.command(self.sc, "k", "i", "c", "o", qmp_socket="/tmp/x.sock")
        self.assertIn("unix:/tmp/x.sock,server=on,wait=off", cmd)

    def test_device_add_gets_the_same_properties(self):
        self.assertEqual(qmp.device_add_args(self.sc, "b"),
                         {"driver": "edu", "id": "b", "bus": "rp2", "addr": "0x0.0",
                          "dma_mask": "0xffffffffffffffff"})
        with self.assertRaises(StopIteration):
            qmp.device_add_args(self.sc, "a")       # present at boot: not pluggable

    def test_requests_are_read_once_and_whole_lines_only(self):
        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            f.write(b"ok 1 x\n# WB-QMP device_add b\n# WB-QMP device_del")
        try:
            h = qmp.Hotplug(self.sc, "unused", f.name, io.StringIO())
            h.monitor = FakeMonitor()
            h.poll()
            h.poll()
            self.assertEqual([c for c, _ in h.monitor.calls], ["device_add"])
            with open(f.name, "ab") as out:
                out.write(b" b\n")
            h.poll()
            self.assertEqual(h.monitor.calls[-1], ("device_del", {"id": "b"}))
            self.assertEqual(len(h.monitor.calls), 2)
        finally:
            os.unlink(f.name)

    def test_hotplug_needs_a_root_port(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write('[[device]]\nname = "a"\nmodel = "edu"\nslot = "03.0"\nhotplug = true\n')
        try:
            with self.assertRaises(scenario.ScenarioError):
                scenario.load(f.name)
        finally:
            os.unlink(f.name)
