"""pytest plumbing for the real-guest tests (tests/real).

Run: /usr/bin/python3 -m pytest -rs tests/real

Tests parametrize over `scenario` (tests/real/guestkit.py) and request the
`guest` fixture. Before the first such test runs, the session collects the
scenarios of ALL selected tests and runs them in one batch under hardware
virtualization (tests/nested), which two L1s share (nested.Batch.l1s).
Each test then asserts on its scenario's result.

A scenario that cannot run is skipped with the reason; with
VMM_REQUIRE_REAL=1 (set by `make check`), that is a failure instead.
"""
import os
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS, "nested"))
sys.path.insert(0, os.path.join(TESTS, "real"))

import guestkit  # noqa: E402
import nested  # noqa: E402


unavailable = guestkit.unavailable
CONSOLE_DIR = os.path.join(nested.REPO, "build", "real-consoles")


class GuestRun:
    """What a test gets from the `guest` fixture."""

    def __init__(self, scenario, result, batch_info):
        self.scenario = scenario
        self.result = result            # nested.Result
        self.log = result.stdout        # the VMM's stdout: guest serial console
        self.report = guestkit.Report(result.stdout)
        self.batch = batch_info

    def describe(self, tail=3000):
        return "%s\n%s\nwhole console: %s" % (self.batch.get("summary", ""),
                                             self.result.describe(tail), self.keep_console())

    def keep_console(self):
        """The whole console and stderr of the passing attempt, under build/
        (a test may fail on an attempt the harness counted as good; failed
        attempts' are in nested.ATTEMPT_DIR)."""
        path = os.path.join(CONSOLE_DIR, "%s.log" % self.scenario.name)
        try:
            os.makedirs(CONSOLE_DIR, exist_ok=True)
            with open(path, "w") as f:
                f.write(self.result.stdout or "")
                f.write("\n--- stderr ---\n")
                f.write(self.result.stderr or "")
        except OSError as e:
            return "not kept (%s)" % e
        return path


class RealSession:
    """Runs every selected scenario in one batch, on first demand."""

    def __init__(self, scenarios):
        self.scenarios = scenarios
        self.results = None
        self.skipped = {}     # name -> reason
        self.error = None     # harness-level reason no result exists
        self.info = {}
        self.summary = []
        self.retried = []     # one line per scenario that needed >1 attempt
        self.violations = []  # vmm scenarios retried for a guest-side reason

    def run(self):
        runnable = []
        for sc in self.scenarios:
            why = sc.missing()
            if why:
                self.skipped[sc.name] = why
            else:
                runnable.append(sc)
        self.results = {}
        if not runnable:
            return
        try:
            nested.kvmprobe_path()   # build/kvmprobe, used by the harness self-test
            batch = nested.Batch()
        except nested.Unavailable as e:
            self.error = "no hardware virtualization harness: %s" % e
            return
        for sc in runnable:
            first = len(batch.commands)
            sc.add_to(batch)
            for c in batch.commands[first:]:
                c["alone"] = sc.alone
        self.results = batch.run()
        self.info = {
            "mode": batch.mode, "l1_kvm_ready": batch.l1_kvm_ready,
            "l1_staged": batch.l1_staged, "l1_exec_start": batch.l1_exec_start, "total": batch.total_time,
            "error": batch.error, "l1_runs": batch.runs,
        }
        self.info["summary"] = "harness: %s" % " ".join(
            "%s=%s" % kv for kv in sorted(self.info.items()) if kv[0] != "summary")
        self.summary.append(self.info["summary"])
        if batch.error:
            self.summary.append("harness error: %s" % batch.error)
            self.summary.append("console tail:\n" + batch.log[-2000:])
        for sc in runnable:
            r = self.results[sc.name]
            self.summary.append("  %-24s rc=%s elapsed=%ss marker_at=%ss%s%s%s" % (
                sc.name, r.rc, r.elapsed, r.marker_time,
                " TIMEOUT" if r.timed_out else "", " IDLE" if r.idle_out else "",
                " attempts=%d" % r.attempts if r.attempts != 1 else "")
                + (" error=%s" % r.error if r.error else ""))
        for sc in runnable:
            line = guestkit.retry_summary(sc, self.results[sc.name])
            if line:
                self.retried.append(line)
            why = guestkit.retry_violation(sc, self.results[sc.name])
            if why:
                self.violations.append(why)

    def get(self, scenario):
        if self.results is None:
            self.run()
        if scenario.name in self.skipped:
            unavailable("%s: %s" % (scenario.name, self.skipped[scenario.name]))
        if self.error:
            unavailable(self.error)
        if scenario.name not in self.results:
            pytest.fail("scenario %s was not collected into the batch" % scenario.name)
        run = GuestRun(scenario, self.results[scenario.name], self.info)
        reset = guestkit.final_sign(scenario, run.result)
        if reset:
            pytest.fail("%s\n%s" % (reset, run.describe()), pytrace=False)
        trouble = guestkit.console_trouble(run.log)
        if trouble and scenario.subject and not getattr(scenario, "console_ok", False):
            pytest.fail("%s: the guest console shows %r\n%s" % (scenario.name, trouble,
                                                              run.describe()), pytrace=False)
        if run.report.malformed and scenario.subject:
            pytest.fail("%s: the guest report has lines the parser cannot read: %r\n%s" % (
                scenario.name, run.report.malformed, run.describe()), pytrace=False)
        return run


def _scenarios_of(items):
    seen, out = set(), []
    for item in items:
        cs = getattr(item, "callspec", None)
        sc = cs.params.get("scenario") if cs else None
        if isinstance(sc, guestkit.Scenario) and sc.name not in seen:
            seen.add(sc.name)
            out.append(sc)
    return out


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    # trylast: runs after -k/-m deselection, so only selected tests count.
    config._vmm_real_session = RealSession(_scenarios_of(items))


@pytest.fixture(scope="session")
def real_session(request):
    rs = getattr(request.config, "_vmm_real_session", None)
    if rs is None:
        rs = request.config._vmm_real_session = RealSession([])
    return rs


@pytest.fixture
def guest(real_session, scenario):
    """The GuestRun of this test's `scenario` (runs the shared batch first)."""
    return real_session.get(scenario)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    rs = getattr(config, "_vmm_real_session", None)
    if rs is None or rs.results is None:
        return
    terminalreporter.section("real-guest harness")
    for line in rs.summary:
        terminalreporter.write_line(line)
    for name, why in rs.skipped.items():
        terminalreporter.write_line("  %-24s not run: %s" % (name, why))
    if rs.error:
        terminalreporter.write_line("not run: %s" % rs.error)
    terminalreporter.section("scenarios that needed more than one attempt")
    for line in rs.retried or ["  none"]:
        terminalreporter.write_line(line)
    for why in rs.violations:
        terminalreporter.write_line("FAIL: %s: a vmm scenario may need a second attempt only "
                                    "after a stuck process, a frozen L1 or the L1's own "
                                    "fault" % why)


def pytest_sessionfinish(session, exitstatus):
    # A vmm scenario that passed only on a retry for a guest-side reason
    # fails the run (issue 22), even though its tests passed.
    rs = getattr(session.config, "_vmm_real_session", None)
    if rs is not None and rs.violations and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
