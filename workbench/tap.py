"""Count results in TAP (kselftest) and KTAP (KUnit) text.

Only leaf results count: a KTAP suite's own "ok" line summarises its
subtests, which were counted already.  Kernel console timestamps are
stripped so KUnit output read from the console parses like any other.
"""

import dataclasses
import re

RESULT = re.compile(r"^(?P<indent>\s*)(?P<not>not )?ok (?P<num>\d+)(?: -)?\s*(?P<name>[^#]*?)\s*"
                    r"(?:#\s*(?P<directive>SKIP|TODO|XFAIL)\b(?P<reason>.*))?$", re.I)
TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


@dataclasses.dataclass
class Case:
    name: str
    status: str            # pass | fail | skip
    reason: str = ""


def strip_console(line):
    return TIMESTAMP.sub("", line.rstrip("\r\n"))


def parse(text, prefix=""):
    """Return the leaf test cases of a TAP or KTAP stream."""
    cases = []
    last_indent = None
    suite = []                 # names of enclosing KTAP suites, by indent
    for raw in text.splitlines():
        line = strip_console(raw)
        sub = re.match(r"^(\s*)# Subtest: (.*)$", line)
        if sub:
            depth = len(sub.group(1))
            suite = [s for s in suite if s[0] < depth] + [(depth, sub.group(2).strip())]
            continue
        m = RESULT.match(line)
        if not m:
            continue
        indent = len(m.group("indent"))
        is_parent = last_indent is not None and last_indent > indent
        last_indent = indent
        if is_parent:
            suite = [s for s in suite if s[0] <= indent]
            continue
        directive = (m.group("directive") or "").upper()
        if directive == "SKIP":
            status = "skip"
        elif m.group("not") and directive not in ("TODO", "XFAIL"):
            status = "fail"
        else:
            status = "pass"
        parents = [s[1] for s in suite if s[0] <= indent]
        name = ".".join(filter(None, [prefix] + parents + [m.group("name").strip()]))
        cases.append(Case(name, status, (m.group("reason") or "").strip()))
    return cases
