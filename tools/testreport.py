#!/usr/bin/env python3
"""What tools/run-tests.sh and tools/sanitize.sh report, read from what the suites
leave behind: pytest's junit XML, TAP streams (plans checked, `# SKIP` counted), the
fuzz corpus replay. Never from a "N passed, N failed" line a suite or its test
output prints: any program can print such a line.

  testreport.py suite DIR NAME [options]   read one suite's results, write DIR/NN-NAME.json,
                                           print one line about it
  testreport.py summary DIR [--label L]    the final report of every suite in DIR; exit 1 on
                                           any failure (and, with CI=true, on a suite that did
                                           not run unless it was switched off)

A suite is in one of these states:
  ran        at least one test passed or failed
  skipped    it ran and every test was skipped (the reasons are listed), or it said
             it could not run (exit 77 with `# SKIP reason`)
  off        switched off on purpose (IOCMGR_TEST_<X>=0); the report says why
  not run    a prerequisite failed (the cluster did not come up): a failure
  no results it ended without a TAP line or a junit XML testcase: a failure (never 0/0)

Groups: "tests" are behaviour tests, counted once each in the last line. "corpus"
(fuzz inputs replayed) and "sanitizer" (the suites again on the ASan/UBSan build)
are reported as what they are; their failures count as failures, their passes are
not added to the passed count.
"""
import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

TAP_TEST = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*?)\s*(?:#\s*(SKIP|TODO)\b:?\s*(.*))?$",
                      re.IGNORECASE)
TAP_PLAN = re.compile(r"^1\.\.(\d+)\s*(?:#\s*SKIP\b:?\s*(.*))?$", re.IGNORECASE)
CORPUS_OK = re.compile(r"^ok - (\S+): (\d+) inputs?$")
CORPUS_BAD = re.compile(r"^not ok - (\S+): (.*)$")


def new_result():
    return {"passed": 0, "failed": 0, "skipped": 0, "skip_reasons": {}, "failures": [], "tests": [],
            "notes": []}


def _skip(res, reason):
    reason = (reason or "no reason given").strip()
    res["skipped"] += 1
    res["skip_reasons"][reason] = res["skip_reasons"].get(reason, 0) + 1


def parse_tap(text, prefix=""):
    """ok / not ok lines at the start of a line, `# SKIP` on either (cmocka prints
    `not ok N # SKIP`, EPICS' harness `ok N # SKIP`), `# TODO` not ok lines are
    neither failures nor passes. Each plan (1..N) is checked against the tests that
    follow it (or precede it, for a plan at the end): a program that stops early
    fails even when every line it printed was ok."""
    res = new_result()
    seg = {"plan": None, "count": 0, "skip": None, "line": 0}
    segments = []

    def close():
        if seg["plan"] is not None or seg["count"]:
            segments.append(dict(seg))
        seg.update(plan=None, count=0, skip=None)

    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r")
        m = TAP_PLAN.match(line)
        if m:
            n = int(m.group(1))
            if seg["plan"] is None and seg["count"]:
                seg["plan"] = n           # a plan at the end closes the tests before it
                close()
            else:
                close()
                seg.update(plan=n, count=0, skip=m.group(2), line=lineno)
                if n == 0:
                    close()
            continue
        m = TAP_TEST.match(line)
        if not m:
            continue
        if seg["plan"] is not None and seg["count"] >= seg["plan"]:
            close()
        if seg["plan"] is None and not seg["count"]:
            seg["line"] = lineno
        seg["count"] += 1
        ok = m.group(1).lower() == "ok"
        desc = m.group(3) or f"test {m.group(2) or seg['count']}"
        directive = (m.group(4) or "").upper()
        # program (plan) and number: two tests of one description stay two tests
        test_id = f"{prefix}{len(segments) + 1}.{m.group(2) or seg['count']} {desc}"
        if directive == "SKIP":
            _skip(res, m.group(5))
        elif directive == "TODO":
            res["notes"].append(f"TODO {'passed' if ok else 'not done'}: {desc}")
        elif ok:
            res["passed"] += 1
            res["tests"].append(test_id)
        else:
            res["failed"] += 1
            res["tests"].append(test_id)
            res["failures"].append(test_id)
    close()
    for s in segments:
        if s["plan"] == 0:
            reason = s["skip"] or "plan 1..0"
            res["notes"].append(f"a program planned no test ({reason})")
            res.setdefault("whole_skips", []).append(reason)
        elif s["plan"] is not None and s["count"] != s["plan"]:
            res["failed"] += 1
            what = f"planned {s['plan']} tests (line {s['line']}), {s['count']} reported"
            res["failures"].append(what)
            res["notes"].append(what)
    return res


def parse_junit(path):
    """pytest's junit XML: one testcase per test; <failure>/<error> children fail it
    (an error in a fixture's teardown too), <skipped> skips it with its message."""
    res = new_result()
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        test_id = "::".join(x for x in (case.get("classname", ""), case.get("name", "")) if x)
        kinds = {child.tag for child in case}
        if "failure" in kinds or "error" in kinds:
            res["failed"] += 1
            res["tests"].append(test_id)
            bad = next(c for c in case if c.tag in ("failure", "error"))
            res["failures"].append(f"{test_id}: {(bad.get('message') or bad.tag).splitlines()[0][:200]}")
        elif "skipped" in kinds:
            sk = next(c for c in case if c.tag == "skipped")
            msg = sk.get("message") or ""
            if sk.get("type") == "pytest.xfail":
                msg = f"expected failure: {msg}"
            _skip(res, re.sub(r"^Skipped:\s*", "", msg))
        else:
            res["passed"] += 1
            res["tests"].append(test_id)
    return res


def parse_corpus(text):
    """tests/fuzz/fuzz.sh regress: "ok - TARGET: N inputs" per target, "not ok -
    TARGET: FILE" per failing input. A target that replayed no input fails (a corpus
    folder gone would otherwise pass as 0 inputs)."""
    res = new_result()
    res["inputs"] = 0
    res["targets"] = []
    for line in text.splitlines():
        m = CORPUS_OK.match(line)
        if m:
            target, n = m.group(1), int(m.group(2))
            res["targets"].append(target)
            if n == 0:
                res["failed"] += 1
                res["failures"].append(f"{target}: no input replayed (corpus/{target} missing or empty)")
            else:
                res["passed"] += 1
                res["inputs"] += n
                res["tests"].append(f"fuzz_{target}")
            continue
        m = CORPUS_BAD.match(line)
        if m:
            res["failed"] += 1
            res["failures"].append(f"{m.group(1)}: {m.group(2)}")
            if m.group(1) not in res["targets"]:
                res["targets"].append(m.group(1))
    return res


def read_text(path):
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def last_skip_line(text):
    for line in reversed(text.splitlines()):
        m = re.match(r"^#\s*SKIP\b:?\s*(.*)$", line.strip(), re.IGNORECASE)
        if m:
            return m.group(1) or "no reason given"
    return None


def judge(args):
    """One suite's record from its log / XML, exit status and declared state."""
    rec = {"name": args.name, "group": args.group, "kind": args.kind, "switch": args.switch,
           "offby": args.offby or f"{args.switch}=0", "why": args.why, "rc": args.rc, "seconds": args.seconds, "log": args.log}
    if args.state in ("off", "not run"):
        rec.update(new_result(), state=args.state)
        if args.state == "not run":
            rec["failed"] = 1
            rec["failures"] = [f"not run: {args.why}"]
        return rec
    text = read_text(args.log) if args.log else ""
    if args.kind == "junit":
        xml = Path(args.xml) if args.xml else None
        if xml and xml.is_file() and xml.stat().st_size:
            try:
                res = parse_junit(xml)
            except ET.ParseError as e:
                res = new_result()
                res["notes"].append(f"junit XML {xml} unreadable: {e}")
        else:
            res = new_result()
            res["notes"].append(f"no junit XML ({xml})")
    elif args.kind == "corpus":
        res = parse_corpus(text)
    elif args.kind == "nested":
        res = new_result()
        res.update(nested=args.nested)
        subs = load_dir(Path(args.nested)) if args.nested and Path(args.nested).is_dir() else []
        for sub in subs:
            sub_failed = sub["failed"] + (1 if sub["state"] == "no results" else 0)
            res["passed"] += sub["passed"]
            res["failed"] += sub_failed
            res["skipped"] += sub["skipped"]
            for reason, n in sub["skip_reasons"].items():
                res["skip_reasons"][reason] = res["skip_reasons"].get(reason, 0) + n
            res["failures"] += [f"{sub['name']}: {f}" for f in sub["failures"]]
            if sub["state"] == "no results":
                res["failures"].append(f"{sub['name']}: no results")
            res["tests"] += [f"{sub['name']}::{t}" for t in sub["tests"]]
        res["subsuites"] = [{k: s[k] for k in ("name", "state", "passed", "failed", "skipped")}
                            for s in subs]
        if not subs:
            res["notes"].append(f"no suite results in {args.nested}")
    else:
        res = parse_tap(text, prefix="")
    rec.update(res)
    ran = rec["passed"] + rec["failed"]
    whole = rec.pop("whole_skips", [])
    skip_line = last_skip_line(text) if args.rc == 77 else None
    if args.rc == 77 and not ran:
        rec["state"] = "skipped"
        reason = skip_line or (whole[0] if whole else "the suite exited 77 (cannot run here)")
        if not rec["skipped"]:
            rec["skip_reasons"] = {reason: 0}
    elif ran:
        rec["state"] = "ran"
    elif rec["skipped"] or whole:
        rec["state"] = "skipped"
        for reason in whole:
            rec["skip_reasons"].setdefault(reason, 0)
    else:
        rec["state"] = "no results"
        rec["notes"].append("no TAP line and no junit XML testcase: counted as a failure, not as 0/0")
    if args.rc not in (0, 77) and rec["failed"] == 0 and rec["state"] != "off":
        rec["failed"] = 1
        rec["failures"].append(f"exited with status {args.rc} with no failed test reported")
    if args.note:
        rec["notes"].append(args.note)
    return rec


def load_dir(d):
    recs = []
    for f in sorted(d.glob("*.json")):
        try:
            recs.append(json.loads(f.read_text()))
        except (OSError, ValueError):
            continue
    return recs


def ci():
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def suite_failures(rec):
    """Failures a suite adds to the run: its own, plus 1 for no results, plus 1 under
    CI for a suite that did not run (skipped, not switched off)."""
    n = rec["failed"]
    if rec["state"] == "no results" and n == 0:
        n = 1
    if ci() and rec["state"] == "skipped":
        n += 1
    return n


def reasons_text(rec, limit=3):
    items = sorted(rec["skip_reasons"].items(), key=lambda kv: -kv[1])
    out = [f"{r} ({n})" if n else r for r, n in items[:limit]]
    if len(items) > limit:
        out.append(f"... {len(items) - limit} more reasons")
    return "; ".join(out)


def one_line(rec):
    state = rec["state"]
    if state == "off":
        return f"off: {rec.get('offby') or rec['switch'] + '=0'} ({rec['why']})"
    if state == "not run":
        return f"NOT RUN: {rec['why']}"
    counts = f"{rec['passed']} passed, {rec['failed']} failed, {rec['skipped']} skipped"
    if rec["group"] == "setup":
        return "ready" if rec["passed"] and not rec["failed"] else f"FAILED (see {rec['log']})"
    if rec["group"] == "corpus":
        counts = (f"{rec.get('inputs', 0)} corpus inputs replayed over {len(rec.get('targets', []))} "
                  f"targets, {rec['failed']} failed")
    if state == "no results":
        return f"NO RESULTS ({counts}; exit {rec['rc']})"
    if state == "skipped":
        return f"skipped: {reasons_text(rec)} ({counts})"
    line = counts
    if rec["skipped"]:
        line += f"; skipped: {reasons_text(rec)}"
    return line


def cmd_suite(args):
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    rec = judge(args)
    n = len(list(d.glob("*.json")))
    (d / f"{n:02d}-{args.name}.json").write_text(json.dumps(rec, indent=1))
    mark = "FAILED" if suite_failures(rec) else "ok"
    print(f"--- {args.name}: {one_line(rec)} [{mark}]")
    for f in rec["failures"][:20]:
        print(f"---   failed: {f}")
    for note in rec["notes"]:
        print(f"---   note: {note}")
    return 0


def cmd_summary(args):
    recs = load_dir(Path(args.dir))
    label = args.label
    tests = [r for r in recs if r["group"] == "tests"]
    corpus = [r for r in recs if r["group"] == "corpus"]
    sanit = [r for r in recs if r["group"] == "sanitizer"]
    width = max([len(r["name"]) for r in recs] + [10])
    print(f"{label}: suites ({'CI=true: a suite that did not run fails' if ci() else 'CI not set'})")
    for r in recs:
        mark = "FAILED" if suite_failures(r) else "ok"
        tag = {"tests": "", "corpus": "[corpus] ", "sanitizer": "[sanitizer] ", "setup": "[setup] "}[r["group"]]
        secs = f" {r['seconds']:.0f}s" if r.get("seconds") is not None and r["state"] not in ("off", "not run") else ""
        print(f"  {r['name']:<{width}}  {mark:6} {tag}{one_line(r)}{secs}")
        for sub in r.get("subsuites", []):
            print(f"  {'':<{width}}         {sub['name']}: {sub['state']}, {sub['passed']} passed, "
                  f"{sub['failed']} failed, {sub['skipped']} skipped")
    failed = sum(suite_failures(r) for r in recs)
    passed = sum(r["passed"] for r in tests)
    skipped = sum(r["skipped"] for r in tests)
    distinct = {f"{r['name']}::{t}" for r in tests for t in r["tests"]}
    print()
    states = {}
    for r in recs:
        states[r["state"]] = states.get(r["state"], 0) + 1
    print(f"{label}: {len(recs)} suites: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    print(f"{label}: distinct tests run: {len(distinct)} ({passed} passed, "
          f"{sum(r['failed'] for r in tests)} failed); {skipped} skipped")
    for r in corpus:
        print(f"{label}: fuzz corpus (not in the count): {r.get('inputs', 0)} inputs replayed over "
              f"{len(r.get('targets', []))} targets, {r['failed']} failed" if r["state"] == "ran" else
              f"{label}: fuzz corpus: {one_line(r)}")
    for r in sanit:
        if r["state"] in ("ran", "skipped", "no results"):
            print(f"{label}: sanitizer pass (the same tests again on the ASan+UBSan build; not in the count): "
                  f"{r['passed']} test runs passed, {r['failed']} failed, {r['skipped']} skipped")
        else:
            print(f"{label}: sanitizer pass: {one_line(r)}")
    bad = [r["name"] for r in recs if suite_failures(r)]
    if bad:
        print(f"{label}: failed suites: {' '.join(bad)}")
    if ci():
        for r in recs:
            if r["state"] == "skipped":
                print(f"{label}: CI=true: {r['name']} did not run ({reasons_text(r)}): a failure; "
                      f"switch it off with {r['switch']}=0 (and {r['switch']}_WHY=...) if that is meant")
    print(f"{label}: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("suite")
    s.add_argument("dir")
    s.add_argument("name")
    s.add_argument("--group", default="tests", choices=("tests", "corpus", "sanitizer", "setup"))
    s.add_argument("--kind", default="tap", choices=("tap", "junit", "corpus", "nested"))
    s.add_argument("--switch", default="")
    s.add_argument("--offby", default="", help="what switched it off, when not SWITCH=0")
    s.add_argument("--why", default="")
    s.add_argument("--state", default="run", choices=("run", "off", "not run"))
    s.add_argument("--rc", type=int, default=0)
    s.add_argument("--seconds", type=float)
    s.add_argument("--log")
    s.add_argument("--xml")
    s.add_argument("--nested")
    s.add_argument("--note")
    m = sub.add_parser("summary")
    m.add_argument("dir")
    m.add_argument("--label", default="iocmgr")
    args = ap.parse_args()
    if args.cmd == "suite":
        return cmd_suite(args)
    return cmd_summary(args)


if __name__ == "__main__":
    sys.exit(main())
