"""Pack the guest's initrd.

The initrd is two cpio archives back to back: an uncompressed one holding
the firmware table, kernel/firmware/acpi/dmar.aml or ivrs.aml (the early
ACPI table upgrade only looks at an uncompressed archive at the very
start), then the root file system:
busybox-static, /init, the test binaries and scripts, and the command the
guest is to run.
"""

import os
import shutil
import stat
import subprocess
import tempfile

BUSYBOX = "/bin/busybox"

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
# Test output goes to the second serial port; the kernel keeps the first.
exec </dev/null >/dev/ttyS1 2>&1
export PATH=/tests:/bin:/sbin WB_SCENARIO="$(cat /etc/wb/scenario)"
cd /tests
echo "WB-START $WB_SCENARIO"
sh /etc/wb/run
echo "WB-EXIT $?"
sync
poweroff -f
"""


def _cpio(root, out, compress):
    files = subprocess.run(["find", ".", "-mindepth", "1"], cwd=root, check=True,
                           capture_output=True, text=True).stdout
    # cpio wants names on stdin and writes the archive to stdout.
    names = "\n".join(sorted(files.split())) + "\n"
    proc = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=root,
                          input=names.encode(), check=True, stdout=subprocess.PIPE)
    data = proc.stdout
    if compress:
        data = subprocess.run(["gzip", "-1", "-n"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    out.write(data)


def _install(src, dst, mode=None):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(src, dst)
    os.chmod(dst, mode if mode is not None else os.stat(src).st_mode | stat.S_IRUSR)


def build(out_path, table, scenario_name, run_script, test_files=(), table_name="dmar.aml"):
    """Write the initrd to out_path.  table (bytes) replaces QEMU's table
    of the same signature, as kernel/firmware/acpi/<table_name>; None
    leaves QEMU's tables alone.  test_files are host paths copied to
    /tests in the guest; run_script is the shell text the guest runs."""
    with tempfile.TemporaryDirectory() as tmp:
        early = os.path.join(tmp, "early")
        os.makedirs(os.path.join(early, "kernel/firmware/acpi"))
        if table is not None:
            with open(os.path.join(early, "kernel/firmware/acpi", table_name), "wb") as f:
                f.write(table)

        root = os.path.join(tmp, "root")
        for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "etc/wb", "tests", "root"):
            os.makedirs(os.path.join(root, d))
        _install(BUSYBOX, os.path.join(root, "bin/busybox"), 0o755)
        with open(os.path.join(root, "init"), "w") as f:
            f.write(INIT)
        os.chmod(os.path.join(root, "init"), 0o755)
        with open(os.path.join(root, "etc/wb/run"), "w") as f:
            f.write(run_script)
        with open(os.path.join(root, "etc/wb/scenario"), "w") as f:
            f.write(scenario_name + "\n")
        # The table as generated, so a test can prove the upgrade happened.
        if table is not None:
            with open(os.path.join(root, "etc/wb", table_name), "wb") as f:
                f.write(table)
        for src in test_files:
            _install(src, os.path.join(root, "tests", os.path.basename(src)))

        with open(out_path, "wb") as out:
            if table is not None:
                _cpio(early, out, compress=False)
            _cpio(root, out, compress=True)
