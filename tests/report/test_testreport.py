"""tools/testreport.py, which turns what the suites leave behind into the final
report of `make test`: each reading against an input whose right answer is known,
including the ways a count used to go wrong (a summary line printed by test output,
output after pytest's summary, cmocka's `# SKIP`, a suite with no results, a plan
not kept, a corpus folder gone, a skipped suite under CI=true)."""
import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
TOOL = TOP / "tools" / "testreport.py"
_spec = importlib.util.spec_from_file_location("testreport", TOOL)
tr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tr)


def counts(res):
    return res["passed"], res["failed"], res["skipped"]


def test_cmocka_tap_counts_skip_as_skipped():
    # what cmocka 1.1.5 prints for a pass, a skip() and a failure (group line is a comment)
    res = tr.parse_tap("1..3\nok 1 - a\nnot ok 2 # SKIP b\nnot ok 3 - c\n# not ok - grp\n")
    assert counts(res) == (1, 1, 1)
    assert res["failures"] == ["1.3 c"]


def test_epics_harness_skip_and_a_program_that_stops_early():
    res = tr.parse_tap("1..4\nok 1 - a\nok 2 # SKIP no CRD\nok 3 - c\n")
    assert counts(res) == (2, 1, 1)
    assert res["skip_reasons"] == {"no CRD": 1}
    assert "planned 4 tests" in res["failures"][0]


def test_plans_at_the_end_and_programs_one_after_the_other():
    res = tr.parse_tap("ok 1 - a\nok 2 - b\n1..2\n1..1\nok 1 - c\n1..2\nok 1 - d\nok 2 - e\n")
    assert counts(res) == (5, 0, 0)


def test_a_summary_line_in_the_output_is_not_a_result():
    res = tr.parse_tap("log: 5 passed, 0 failed\niocmgr: 1,396 passed, 0 failed\n")
    assert counts(res) == (0, 0, 0) and res["tests"] == []


def test_todo_and_indented_lines_count_neither_way():
    res = tr.parse_tap("    ok 1 - indented subtest\nok 1 - a # TODO later\nnot ok 2 - b # todo\n")
    assert counts(res) == (0, 0, 0)


def test_a_plan_of_zero_with_skip_is_a_skipped_program():
    res = tr.parse_tap("1..0 # SKIP no Phoebus\n")
    assert counts(res) == (0, 0, 0) and res["whole_skips"] == ["no Phoebus"]


def test_corpus_replay_counts_inputs_and_fails_an_empty_target():
    res = tr.parse_corpus("ok - watch: 10 inputs\nok - argo: 0 inputs\n"
                          "not ok - imageref: corpus/imageref/x\nfuzz-regress: 10 passed, 1 failed\n")
    assert (res["inputs"], res["passed"], res["failed"]) == (10, 1, 2)
    assert res["targets"] == ["watch", "argo", "imageref"]
    assert any("argo: no input replayed" in f for f in res["failures"])


JUNIT = """<?xml version="1.0"?><testsuites><testsuite name="pytest">
<testcase classname="t" name="a"/>
<testcase classname="t" name="b"><skipped type="pytest.skip" message="helm not available"/></testcase>
<testcase classname="t" name="c"><failure message="AssertionError: boom">trace</failure></testcase>
<testcase classname="t" name="d"/><testcase classname="t" name="d"><error message="teardown failed"/></testcase>
</testsuite></testsuites>"""


def test_junit_counts_teardown_errors_as_failures(tmp_path):
    xml = tmp_path / "r.xml"
    xml.write_text(JUNIT)
    res = tr.parse_junit(xml)
    assert counts(res) == (2, 2, 1)
    assert res["skip_reasons"] == {"helm not available": 1}


def judge(tmp_path, log_text, rc=0, kind="tap", xml_text=None, state="run"):
    log = tmp_path / "s.log"
    log.write_text(log_text)
    xml = tmp_path / "s.xml"
    if xml_text is not None:
        xml.write_text(xml_text)
    ns = argparse.Namespace(name="s", group="tests", kind=kind, switch="IOCMGR_TEST_S", offby="", why="why", rc=rc,
                            seconds=1.0, log=str(log), xml=str(xml), state=state, note=None, nested=None)
    return tr.judge(ns)


def test_no_tap_and_exit_0_is_no_results_and_fails(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    rec = judge(tmp_path, "fuzz-regress: 0 passed, 0 failed\n")
    assert rec["state"] == "no results" and tr.suite_failures(rec) == 1


def test_exit_77_with_a_reason_is_skipped_and_fails_only_under_ci(tmp_path, monkeypatch):
    rec = judge(tmp_path, "# SKIP Phoebus not found: set PHOEBUS_REPO\n", rc=77)
    assert rec["state"] == "skipped"
    assert list(rec["skip_reasons"]) == ["Phoebus not found: set PHOEBUS_REPO"]
    monkeypatch.delenv("CI", raising=False)
    assert tr.suite_failures(rec) == 0
    monkeypatch.setenv("CI", "true")
    assert tr.suite_failures(rec) == 1


def test_every_test_skipped_is_a_skipped_suite(tmp_path, monkeypatch):
    xml = JUNIT.replace('<testcase classname="t" name="a"/>', "").split("<testcase classname=\"t\" name=\"c\"")[0]
    rec = judge(tmp_path, "", kind="junit", xml_text=xml + "</testsuite></testsuites>")
    assert rec["state"] == "skipped" and rec["skipped"] == 1
    monkeypatch.setenv("CI", "true")
    assert tr.suite_failures(rec) == 1


def test_switched_off_is_not_a_failure_under_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    rec = judge(tmp_path, "", state="off")
    assert rec["state"] == "off" and tr.suite_failures(rec) == 0


def test_missing_junit_and_a_crash_is_a_failure(tmp_path):
    rec = judge(tmp_path, "Traceback ...\n", rc=1, kind="junit")
    assert rec["state"] == "no results" and rec["failed"] == 1


def test_passes_survive_output_after_pytests_summary(tmp_path):
    """The old reader took pytest's counts from the log's last line: anything printed
    after it (a fixture's teardown, a background process) lost every pass."""
    test = tmp_path / "test_late.py"
    test.write_text("import atexit\natexit.register(lambda: print('teardown chatter: 0 passed'))\n"
                    "def test_a():\n    pass\ndef test_b():\n    print('9 passed, 9 failed')\n")
    xml = tmp_path / "late.xml"
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={xml}",
                        str(test)], capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout.rstrip().splitlines()[-1] == "teardown chatter: 0 passed"
    rec = judge(tmp_path, r.stdout, rc=r.returncode, kind="junit", xml_text=xml.read_text())
    assert (rec["state"], rec["passed"], rec["failed"]) == ("ran", 2, 0)


def test_summary_counts_behaviour_once_and_reports_corpus_and_sanitizer_apart(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    d = tmp_path / "report"
    d.mkdir()

    def suite(name, text, **kw):
        log = tmp_path / f"{name}.log"
        log.write_text(text)
        args = ["suite", str(d), name, "--log", str(log), *[f"--{k}={v}" for k, v in kw.items()]]
        subprocess.run([sys.executable, str(TOOL), *args], check=True, capture_output=True)

    suite("unit", "1..2\nok 1 - a\nnot ok 2 # SKIP no clang\n")
    suite("fuzz", "ok - watch: 700 inputs\nok - argo: 95 inputs\n", kind="corpus", group="corpus")
    nested = tmp_path / "asan"
    nested.mkdir()
    (tmp_path / "n.log").write_text("1..1\nok 1 - a\n")
    subprocess.run([sys.executable, str(TOOL), "suite", str(nested), "unit", "--log", str(tmp_path / "n.log")],
                   check=True, capture_output=True)
    suite("sanitize", "", kind="nested", group="sanitizer", nested=str(nested))
    subprocess.run([sys.executable, str(TOOL), "suite", str(d), "argocd", "--state", "off",
                    "--switch", "IOCMGR_TEST_ARGOCD", "--why", "heavy build"], check=True, capture_output=True)
    r = subprocess.run([sys.executable, str(TOOL), "summary", str(d)], capture_output=True, text=True)
    out = r.stdout
    assert r.returncode == 0, out
    assert out.rstrip().splitlines()[-1] == "iocmgr: 1 passed, 0 failed, 1 skipped"
    assert "795 inputs replayed over 2 targets" in out
    assert "sanitizer pass" in out and "1 test runs passed" in out
    assert "off: IOCMGR_TEST_ARGOCD=0 (heavy build)" in out
    assert "distinct tests run: 1" in out


@pytest.mark.parametrize("ci, rc", [("", 0), ("true", 1)])
def test_summary_of_a_skipped_suite_is_red_only_under_ci(tmp_path, monkeypatch, ci, rc):
    d = tmp_path / "report"
    log = tmp_path / "p.log"
    log.write_text("# SKIP no Phoebus Maven repository: set PHOEBUS_REPO\n")
    subprocess.run([sys.executable, str(TOOL), "suite", str(d), "phoebus", "--rc", "77", "--log", str(log),
                    "--switch", "IOCMGR_TEST_PHOEBUS"], check=True, capture_output=True)
    r = subprocess.run([sys.executable, str(TOOL), "summary", str(d)], capture_output=True, text=True,
                       env={"CI": ci, "PATH": "/usr/bin:/bin"})
    assert r.returncode == rc, r.stdout
    assert r.stdout.rstrip().splitlines()[-1] == f"iocmgr: 0 passed, {rc} failed, 0 skipped"
