"""Count results in TAP (kselftest) and KTAP (KUnit) text.

Only leaf results count: a KTAP suite's own "ok" line summarises its
subtests, which were counted already.  Kernel console timestamps are
stripped so KUnit output read from the console parses like any other.

A failed case's reason is what the test printed about it: the kselftest
harness's "file:line:test:Expected ..." lines and the test's own
TH_LOG() notes between its "RUN" line and its result, so the lane's
summary says why without opening the log.
"""

import dataclasses
import re

RESULT = re.compile(r"^(?P<indent>\s*)(?P<not>not )?ok (?P<num>\d+)(?: -)?\s*(?P<name>[^#]*?)\s*"
                    r"(?:#\s*(?P<directive>SKIP|TODO|XFAIL)\b(?P<reason>.*))?$", re.I)
TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
# Harness bookkeeping around a case, not a diagnostic about it.
NOT_DIAGNOSTIC = re.compile(r"^\s*#\s*(RUN\b|OK\b|FAIL\b|SKIP\b|\S+: Test (failed|terminated)|"
                            r"Starting \d+ tests|FAILED:|PASSED:|Totals:|Subtest:)")
MAX_DIAGNOSTIC_LINES = 4


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
    notes = []                 # "# ..." lines since the last result
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
            if re.match(r"^\s*#\s*RUN\b", line):
                notes = []
            elif line.lstrip().startswith("#") and not NOT_DIAGNOSTIC.match(line):
                notes.append(line.lstrip().lstrip("#").strip())
            continue
        case_notes, notes = notes, []
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
        reason = (m.group("reason") or "").strip()
        if status == "fail" and not reason:
            reason = failure_reason(case_notes)
        cases.append(Case(name, status, reason))
    return cases


def failure_reason(notes):
    """The first few diagnostics of a failed case, on one line."""
    picked = [n for n in notes if n][:MAX_DIAGNOSTIC_LINES]
    return " | ".join(picked)
