"""`report.html`: every law, claim and crossing of a fit, escaped text, inlined figures, and a headless render."""

import base64
import json
import re
import subprocess
from pathlib import Path

import matplotlib
import pytest

from ftscale.reports.html import write_html
from ftscale.reports.sections import Figure, Section

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(fitted) -> Path:
    results, sections, sweep_dir = fitted
    return write_html(sections, f"ftscale sweep {results.sweep}", sweep_dir)


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_report_shows_every_law_claim_and_crossing(fitted, report):
    results, _, _ = fitted
    html = report.read_text()
    for law in results.laws:
        assert f'{law.method} along {law.axis} <span class="badge {law.fit.quality}">' in html
        low, high = law.fit.intervals["beta"]
        assert f"{low:.4g}" in html and f"{high:.4g}" in html  # the shared parameters' intervals are shown
        assert "data exponent: how fast the loss falls with Df" in html  # each parameter with its meaning
    claims = re.search(r"The paper&#x27;s claims on this sweep</h2>.*?<table>(.*?)</table>", html, flags=re.S).group(1)
    assert claims.count("<tr>") == 1 + len(results.claims)  # one row per claim, not per subject
    for claim in results.claims:
        assert f'class="{claim.verdict.replace(" ", "-")}">{claim.verdict}<' in claims
    forests = [c for c in results.claims if c.values]
    assert claims.count("<img") == len(forests) > 0  # each claim's subjects against its threshold, in its row
    assert "Who wins where" in html and html.count("better below") >= len(results.critical)
    assert len(_images(html)) == len(results.laws) + len(forests) + len(results.critical)
    assert all(image.startswith(PNG_MAGIC) for image in _images(html))
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)  # nothing loaded from outside


def test_choices_are_shown_with_what_they_were_chosen_on(fitted, report):
    results, _, _ = fitted
    html = report.read_text()
    assert "chosen by cross-validation on the fitted points" in html
    assert html.count("diagnostic: ranked on the held-out points (not used to choose)") == len(results.forms)
    assert "What each method&#x27;s laws share" in html and all(f"{s.method}: shared" in html for s in results.sharing)
    assert "Which method to use" in html and results.decisions[0].decision.summary().splitlines()[0][:30] in html


def test_the_figures_are_drawn_and_not_blank(fitted):
    _, sections, sweep_dir = fitted
    shown = [f for section in sections for f in section.figures]
    shown += [cell for section in sections for t in section.tables for row in t.rows for cell in row
              if isinstance(cell, Figure)]  # fmt: skip
    keys = {figure.key.split("/")[0] for figure in shown}
    assert keys == {"fit", "claims", "critical"}
    for figure in shown:
        image = plt.imread(sweep_dir / figure.path)
        assert min(image.shape[:2]) > 100 and image[..., :3].std() > 0.01, figure.path


def test_report_escapes_text(report):
    html = report.read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "synthetic &amp; co" in html


def test_a_missing_figure_is_named(tmp_path):
    sections = [Section("s", "", [], [Figure("k", "figures/never-drawn.png", "c")])]
    html = write_html(sections, "t", tmp_path).read_text()
    assert "figure missing: figures/never-drawn.png" in html and not _images(html)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0"]  # fmt: skip
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=60, check=True)


# The report has no scripts, so the probe is added to a copy: it lists each image's decoded size once the
# page has loaded; a deliberately broken image shows the check can fail.
PROBE = """<img id="control" src="data:image/png;base64,AAAA"><script>
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify([...document.images].map(i => ({id: i.id, w: i.naturalWidth})));
  document.body.appendChild(out);
});
</script></body>"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    shot = tmp_path / "shot.png"
    rendered = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", report.as_uri())
    assert [line for line in rendered.stderr.splitlines() if ":CONSOLE" in line] == []
    image = plt.imread(shot)
    assert image.shape[:2] == (2000, 1200) and image.std() > 0.01  # not a blank page
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", PROBE))
    dumped = _chromium(tmp_path, "--dump-dom", probe.as_uri())
    sizes = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dumped.stdout).group(1))
    assert all(size["w"] > 100 for size in sizes if size["id"] != "control")  # every figure decoded
    assert [size["w"] for size in sizes if size["id"] == "control"] == [0]
