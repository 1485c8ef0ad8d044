"""Check a DMAR table with ACPICA's iasl: it must disassemble without a
complaint, and the disassembly must compile back to the same structures."""

import os
import subprocess
import tempfile

# iasl -d reports a malformed table in the output text, not the exit code.
COMPLAINTS = ("**** ", "Invalid", "Error", "terminates in the middle", "Unknown")

# Header bytes iasl rewrites when compiling: checksum, compiler ID/revision.
IASL_OWNED = set([9]) | set(range(28, 36))


def check(table):
    """Return None if the table is sound, else a one-line problem."""
    with tempfile.TemporaryDirectory() as tmp:
        aml = os.path.join(tmp, "dmar.aml")
        with open(aml, "wb") as f:
            f.write(table)
        dis = subprocess.run(["iasl", "-d", aml], cwd=tmp, capture_output=True, text=True)
        dsl = os.path.join(tmp, "dmar.dsl")
        if dis.returncode or not os.path.exists(dsl):
            return f"iasl -d failed: {dis.stdout.strip().splitlines()[-1:]} {dis.stderr.strip()}"
        with open(dsl, errors="replace") as f:
            text = f.read()
        for line in dis.stdout.splitlines() + dis.stderr.splitlines() + text.splitlines():
            if any(c in line for c in COMPLAINTS) and "Copyright" not in line:
                return f"iasl -d: {line.strip()}"
        os.rename(dsl, os.path.join(tmp, "again.dsl"))
        comp = subprocess.run(["iasl", "again.dsl"], cwd=tmp, capture_output=True, text=True)
        again = os.path.join(tmp, "again.aml")
        if comp.returncode or not os.path.exists(again):
            return f"iasl could not recompile its own disassembly: {comp.stdout.strip().splitlines()[-1:]}"
        with open(again, "rb") as f:
            rebuilt = f.read()
        if len(rebuilt) != len(table):
            return f"recompiled table is {len(rebuilt)} bytes, ours {len(table)}"
        diff = [i for i in range(len(table)) if table[i] != rebuilt[i] and i not in IASL_OWNED]
        if diff:
            return f"recompiled table differs at byte {diff[0]:#x}"
    return None
