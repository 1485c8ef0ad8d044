"""Command line of the workbench: python3 -m workbench <command> ...

  dmar SCENARIO OUT.aml        write the scenario's DMAR table
  qemu SCENARIO                print the QEMU command line
  iasl-check [SCENARIO...]     disassemble and recompile every table
  run SCENARIO[+VARIANT] [options] CMD
                               boot, run CMD (shell) in the guest, exit with
                               its status; console saved under --log-dir
  demo [SCENARIO]              boot and show RMRRs, groups and VFIO's answer
  lane                         the default test lane (make test)
  hostile [--sample] [IDs...]  boot malformed DMAR tables (fixed seed)
  fixes-check --kernel K       the tables the fixes series is about, console only
  corpus [--sample] [IDs...]   boot real firmware DMAR tables (../shared/dmar-corpus)
                               and run the read-only RMRR tests on each
"""

import argparse
import glob
import os
import sys

from . import bench, corpus, corpus_run, dmar, fixes_check, hostile, iasl, lane, profile, qemu, scenario, vm

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scenario_path(name):
    if os.path.exists(name):
        return name
    path = os.path.join(TOP, "scenarios", name + ".toml")
    if not os.path.exists(path):
        known = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(TOP, "scenarios/*.toml")))
        sys.exit(f"no scenario '{name}' (known: {', '.join(known)})")
    return path


def load_boot(name):
    """A scenario, or one of its variants as "scenario+variant"."""
    base, _, variant = name.partition("+")
    sc = scenario.load(scenario_path(name if os.path.exists(name) else base))
    if not variant:
        return sc
    for v in sc.variants:
        if v.name == f"{sc.name}+{variant}":
            return v
    sys.exit(f"scenario {sc.name} has no variant '{variant}' "
             f"(known: {', '.join(v.name for v in sc.variants)})")


def all_scenarios():
    return sorted(glob.glob(os.path.join(TOP, "scenarios/*.toml")))


def cmd_dmar(args):
    sc = scenario.load(scenario_path(args.scenario))
    with open(args.out, "wb") as f:
        f.write(dmar.build(sc))


def cmd_qemu(args):
    sc = scenario.load(scenario_path(args.scenario))
    print(" ".join(qemu.command(sc, args.kernel, "initrd.img", "console.log", "output.log")))


def cmd_iasl_check(args):
    paths = [scenario_path(s) for s in args.scenarios] or all_scenarios()
    failed = 0
    for path in paths:
        sc = scenario.load(path)
        problem = iasl.check(dmar.build(sc))
        print(f"{'ok' if not problem else 'FAIL'} {sc.name}{': ' + problem if problem else ''}")
        failed += bool(problem)
    return 1 if failed else 0


def cmd_run(args):
    sc = load_boot(args.scenario)
    log_dir = args.log_dir or os.path.join(TOP, "build/logs", sc.name)
    script = args.command
    if args.script:
        with open(args.script) as f:
            script = f.read()
    res = vm.run(sc, args.kernel, script, log_dir, test_files=args.file,
                 timeout=args.timeout, extra_cmdline=args.append)
    sys.stdout.write(res.output)
    if args.show_console:
        sys.stdout.write(res.console)
    print(f"# {sc.name}: {res.verdict()} after {res.elapsed:.1f}s, console: "
          f"{os.path.relpath(os.path.join(log_dir, 'console.log'), os.getcwd())}", file=sys.stderr)
    for line in res.problems[:5]:
        print(f"#   {line.strip()}", file=sys.stderr)
    return 0 if res.ok else (res.status if res.status > 0 else 1)


def cmd_lane(args):
    return lane.main([])


def cmd_corpus(args):
    return corpus_run.main(args.ids, sample=args.sample, jobs=args.jobs, kernel=args.kernel,
                           tests_dir=args.tests, corpus_dir=args.corpus,
                           log_root=args.log_dir, timeout=args.timeout)


def cmd_hostile(args):
    return hostile.main(args.ids, sample_only=args.sample, jobs=args.jobs, kernel=args.kernel)


def cmd_fixes_check(args):
    return fixes_check.main(args.kernel, args.label)


def cmd_demo(args):
    sc = scenario.load(scenario_path(args.scenario))
    with open(os.path.join(TOP, "tests/vm/demo.sh")) as f:
        script = f.read()
    env = "".join(f"export {k}='{v}'\n" for k, v in sorted(sc.test_env.items()))
    files = [os.path.join(TOP, "build/tests/rmrr_vfio")]
    res = vm.run(sc, args.kernel, env + script, os.path.join(TOP, "build/logs/demo", sc.name),
                 test_files=files, timeout=300)
    sys.stdout.write(res.output)
    print(f"# {sc.name}: {res.verdict()} after {res.elapsed:.1f}s; kernel console in "
          f"{os.path.relpath(os.path.join(res.log_dir, 'console.log'), os.getcwd())}")
    return 0 if res.ok else 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["lane"]:            # the lane parses its own options
        return lane.main(argv[1:])
    ap = argparse.ArgumentParser(prog="workbench")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("dmar")
    p.add_argument("scenario")
    p.add_argument("out")
    p.set_defaults(fn=cmd_dmar)
    p = sub.add_parser("qemu")
    p.add_argument("scenario")
    p.add_argument("--kernel", default=os.path.join(TOP, "build/bzImage"))
    p.set_defaults(fn=cmd_qemu)
    p = sub.add_parser("iasl-check")
    p.add_argument("scenarios", nargs="*")
    p.set_defaults(fn=cmd_iasl_check)
    p = sub.add_parser("run")
    p.add_argument("scenario")
    p.add_argument("command", nargs="?", default="true")
    p.add_argument("--script", help="file whose text the guest runs instead of COMMAND")
    p.add_argument("--kernel", default=os.path.join(TOP, "build/bzImage"))
    p.add_argument("--file", action="append", default=[], help="host file to put in /tests")
    p.add_argument("--append", action="append", default=[], help="extra kernel argument")
    p.add_argument("--timeout", type=int, default=300)
    p.add_argument("--log-dir")
    p.add_argument("--show-console", action="store_true")
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("lane", help="the default test lane; --help for its options")
    p.set_defaults(fn=cmd_lane)
    p = sub.add_parser("bench", help="unpatched 6.12 against the series (make bench)")
    p.set_defaults(fn=lambda args: bench.main())
    p = sub.add_parser("profile", help="where a preserved claim's extra time goes (make profile)")
    p.set_defaults(fn=lambda args: profile.main())
    p = sub.add_parser("corpus")
    p.add_argument("ids", nargs="*", type=int, help="corpus table IDs (default: all)")
    p.add_argument("--sample", action="store_true", help="the lane's fixed sample only")
    p.add_argument("--jobs", type=int, default=2, help="VMs at a time")
    p.add_argument("--kernel", default=os.path.join(TOP, "build/bzImage"))
    p.add_argument("--tests", default=os.path.join(TOP, "build/tests"),
                   help="directory of the static selftest binaries")
    p.add_argument("--corpus", default=corpus.DEFAULT_DIR)
    p.add_argument("--log-dir", default=corpus_run.LOG_ROOT, help="one directory per table below it")
    p.add_argument("--timeout", type=int, default=300, help="seconds per VM (debug kernels need more)")
    p.set_defaults(fn=cmd_corpus)
    p = sub.add_parser("hostile")
    p.add_argument("ids", nargs="*", type=int, help="table numbers (default: all)")
    p.add_argument("--sample", action="store_true", help="one table per kind (the lane's)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--kernel", default=os.path.join(TOP, "build/bzImage"))
    p.set_defaults(fn=cmd_hostile)
    p = sub.add_parser("fixes-check", help="malformed tables the fixes series is about, console only")
    p.add_argument("--kernel", required=True)
    p.add_argument("--label", default="kernel")
    p.set_defaults(fn=cmd_fixes_check)
    p = sub.add_parser("demo")
    p.add_argument("scenario", nargs="?", default="hp-dl360p-gen8")
    p.add_argument("--kernel", default=os.path.join(TOP, "build/bzImage"))
    p.set_defaults(fn=cmd_demo)
    args = ap.parse_args(argv)
    return args.fn(args) or 0


if __name__ == "__main__":
    sys.exit(main())
