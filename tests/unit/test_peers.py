"""The rule for a missing test peer (tests/peers.py, tests/conftest.py): under CI it fails,
saying how to install it; elsewhere it skips with the same words. Each case runs a small test
file in a pytest session of its own, with the suite's conftest."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).parents[1] / "conftest.py"

MISSING = {
    "peer": "from peers import peer\n\ndef test_oracle():\n    peer('no_such_peer_module')\n",
    "browser": (
        "from pathlib import Path\nfrom browser import require\n\n"
        "def test_page():\n    require(('chromium', Path('/no/such/chromium')))\n"
    ),
    "importorskip": (
        "import pytest\n\ndef test_oracle():\n    pytest.importorskip('no_such_peer_module')\n"
    ),
    "marker": (
        "import pytest\n\n@pytest.mark.skip(reason='not today')\ndef test_oracle():\n    pass\n"
    ),
}
"""Every way a test could skip for want of a peer; the first two say how to install it."""

INSTALL = {
    "peer": "pip install -e '.[test]'",
    "browser": "bash tests/e2e/browser/setup.sh",
    "importorskip": "no_such_peer_module",
    "marker": "not today",
}


@pytest.mark.parametrize("way", MISSING)
def test_a_missing_peer_fails_under_ci_saying_how_to_install_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(MISSING[way])
    result = pytester.runpytest("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    # A skip in the test's body fails it; one at setup (a marker) is an error: neither passes.
    assert "skipped" not in outcomes
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1, outcomes
    assert INSTALL[way] in result.stdout.str()


@pytest.mark.parametrize("ci", ["", "false"])
@pytest.mark.parametrize("way", MISSING)
def test_a_missing_peer_skips_outside_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, way: str, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(MISSING[way])
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    assert INSTALL[way] in result.stdout.str()
