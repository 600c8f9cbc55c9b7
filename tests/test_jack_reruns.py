"""The conftest's rule for JACK tests: run again only a failure during which the server reported xruns."""

from __future__ import annotations

import textwrap

import pytest

from tests.jack_helpers import REPO

pytest_plugins = ["pytester"]

# The inner session uses the real hook from tests/conftest.py, with a fake JackWatch whose xruns
# the inner tests move themselves (a real late cycle cannot be made to order).
INNER_CONFTEST = textwrap.dedent("""
    import tests.conftest as real
    from tests.conftest import pytest_runtest_protocol, pytest_terminal_summary

    class FakeWatch:
        xruns = 0

    COUNTER = FakeWatch()
    real._xrun_watch = lambda: COUNTER
    real._stale = lambda: ["0_default_jack_lsp"]
""")

INNER_TESTS = textwrap.dedent("""
    import pytest
    from conftest import COUNTER

    attempts = {"flaky": 0, "plain": 0, "always": 0, "unmarked": 0, "private": 0}

    @pytest.mark.jack
    def test_fails_once_with_xruns():
        attempts["flaky"] += 1
        if attempts["flaky"] == 1:
            COUNTER.xruns += 4
            assert False, "replayed buffer"

    @pytest.mark.jack
    def test_fails_without_xruns():
        attempts["plain"] += 1
        assert False, f"plain failure, attempt {attempts['plain']}"

    @pytest.mark.jack
    def test_fails_every_time_with_xruns():
        attempts["always"] += 1
        COUNTER.xruns += 1
        assert False, f"always, attempt {attempts['always']}"

    @pytest.mark.jack
    @pytest.mark.private_jack
    def test_on_a_private_server():
        attempts["private"] += 1
        COUNTER.xruns += 1
        assert False, f"private, attempt {attempts['private']}"

    def test_not_a_jack_test():
        attempts["unmarked"] += 1
        COUNTER.xruns += 1
        assert False, f"unmarked, attempt {attempts['unmarked']}"
""")


def test_only_failures_with_xruns_run_again_and_the_run_says_so(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeini("[pytest]\nmarkers =\n    jack: runs through JACK\n    private_jack: own servers\n")
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(passed=1, failed=4)
    text = result.stdout.str()
    assert "plain failure, attempt 1" in text and "plain failure, attempt 2" not in text
    assert "always, attempt 3" in text  # three attempts, then it fails for real
    assert "unmarked, attempt 1" in text and "unmarked, attempt 2" not in text  # only JACK tests run again
    assert "private, attempt 1" in text and "private, attempt 2" not in text  # not for the shared server's xruns
    summary = text.split("JACK tests run again after xruns")[1].split("short test summary info")[0]
    assert "test_fails_once_with_xruns: attempt 1 failed while JACK reported 4 xrun(s)" in summary
    assert "AssertionError: replayed buffer" in summary
    assert "; this process held the semaphores of closed JACK clients 0_default_jack_lsp" in summary
    assert summary.count("test_fails_every_time_with_xruns: attempt") == 2
    for name in ("test_fails_without_xruns", "test_not_a_jack_test", "test_on_a_private_server"):
        assert name not in summary

