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
    status: str            # pass | fail | skip | crash
    reason: str = ""


PLAN = re.compile(r"^(?P<indent>\s*)1\.\.(?P<n>\d+)\s*(?:#\s*(?P<skip>SKIP)\b(?P<reason>.*))?$", re.I)
VERSION = re.compile(r"^(K?TAP) version \d+")
RUN = re.compile(r"^\s*#\s*RUN\s+(?P<name>\S+)")


def strip_console(line):
    return TIMESTAMP.sub("", line.rstrip("\r\n"))


class _Level:
    """One TAP/KTAP nesting level: its plan and how many results it got."""

    def __init__(self, indent, name):
        self.indent, self.name = indent, name
        self.plan, self.seen = None, 0


def parse(text, prefix=""):
    """Return the leaf test cases of a TAP or KTAP stream.

    Strict where a short run could pass for a clean one: a plan ("1..N")
    that promises more (or fewer) results than arrive at its level is a
    failed case "<suite>.plan", a kselftest case that printed "# RUN" and
    then nothing is a case of status "crash", and "1..0 # SKIP why" (a
    whole binary skipped) is one skipped case "<prefix>.all"."""
    cases = []
    notes = []                 # "# ..." lines since the last result
    last_indent = None
    suite = []                 # names of enclosing KTAP suites, by indent
    levels = {}                # indent -> _Level
    running = None             # kselftest case between "# RUN" and its result

    def qualified(indent, leaf):
        parents = [s[1] for s in suite if s[0] <= indent]
        return ".".join(filter(None, [prefix] + parents + [leaf]))

    def close_deeper(indent):
        for depth in sorted((d for d in levels if d > indent), reverse=True):
            check_plan(levels.pop(depth))

    def check_plan(level):
        if level.plan is None or level.plan == level.seen:
            return
        name = ".".join(filter(None, [prefix, level.name, "plan"]))
        cases.append(Case(name, "fail", f"plan 1..{level.plan} but {level.seen} result(s): "
                          "the run stopped early or printed extra results"))

    def level_at(indent):
        if indent not in levels:
            name = next((s[1] for s in suite if s[0] == indent), "")
            name = ".".join(s[1] for s in suite if s[0] <= indent) if name else ""
            levels[indent] = _Level(indent, name)
        return levels[indent]

    for raw in text.splitlines():
        line = strip_console(raw)
        if VERSION.match(line):            # a new top-level stream
            close_deeper(-1)
            last_indent, suite = None, []
            continue
        sub = re.match(r"^(\s*)# Subtest: (.*)$", line)
        if sub:
            depth = len(sub.group(1))
            suite = [s for s in suite if s[0] < depth] + [(depth, sub.group(2).strip())]
            close_deeper(depth - 1)
            continue
        plan = PLAN.match(line)
        if plan:
            level = level_at(len(plan.group("indent")))
            level.plan = int(plan.group("n"))
            if level.plan == 0 and plan.group("skip"):
                cases.append(Case(qualified(level.indent, "all"), "skip",
                                  plan.group("reason").strip()))
            continue
        m = RESULT.match(line)
        if not m:
            run = RUN.match(line)
            if run:
                notes = []
                if running:
                    cases.append(Case(qualified(0, running), "crash", "no result after its RUN line"))
                running = run.group("name")
            elif line.lstrip().startswith("#") and not NOT_DIAGNOSTIC.match(line):
                notes.append(line.lstrip().lstrip("#").strip())
            continue
        running = None
        case_notes, notes = notes, []
        indent = len(m.group("indent"))
        close_deeper(indent)
        level_at(indent).seen += 1
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
        reason = (m.group("reason") or "").strip()
        if status == "fail" and not reason:
            reason = failure_reason(case_notes)
        cases.append(Case(qualified(indent, m.group("name").strip()), status, reason))
    if running:
        cases.append(Case(qualified(0, running), "crash",
                          "no result after its RUN line: the test binary died or was killed"))
    close_deeper(-1)
    return cases


def failure_reason(notes):
    """The first few diagnostics of a failed case, on one line."""
    picked = [n for n in notes if n][:MAX_DIAGNOSTIC_LINES]
    return " | ".join(picked)
