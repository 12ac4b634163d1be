"""`report.html`: every number of a synthetic `laws.json`, escaped text, embedded figures, and a headless render."""

import base64
import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from ftscale.sweeps.report import write_report

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_laws(sweep_dir: Path) -> dict[str, Any]:
    """A small `laws.json` as the lead's fit writes it, with its two figures drawn into `sweep_dir/figures`."""
    (sweep_dir / "figures").mkdir(parents=True, exist_ok=True)
    for name in ("lora-model_size-multiplicative.png", "critical-fmt-lora-model_size.png"):
        fig, ax = plt.subplots(figsize=(4, 3), dpi=50)
        ax.loglog([10, 100, 1000], [3.0, 2.2, 1.9], "o-")
        fig.savefig(sweep_dir / "figures" / name)
        plt.close(fig)
    point = {
        "id": "ab12",
        "method": "lora",
        "axes": ["model_size"],
        "model_size": "s",
        "non_embedding_params": 55536,
        "pretrain_tokens": 2097152,
        "pet_size": 4,
        "train_size": 100,
        "seed": 0,
        "metrics": {"test/loss": 3.1, "test/ppl": 22.2, "val/loss": 3.0, "trainable_params": 1234, "wall_time_s": 4.2},
    }
    fit = {
        "method": "lora",
        "axis": "model_size",
        "x_name": "non_embedding_params",
        "law": "multiplicative",
        "formula": "L = A X^-alpha Df^-beta + E",
        "params": {"A": 12.0, "alpha": 0.2173, "beta": 0.1, "E": 1.5},
        "intervals": {"alpha": [0.1529, 0.2841]},
        "delta_e": 0.0113,
        "delta_h": 0.0347,
        "n_fit": 20,
        "n_held_out": 5,
        "converged": True,
        "figure": "figures/lora-model_size-multiplicative.png",
    }
    additive = {
        **fit,
        "law": "additive",
        "formula": "L = A X^-alpha + B Df^-beta + E",
        "params": {"A": 7.0, "alpha": 0.31, "B": 4.4, "beta": 0.12, "E": 1.4},
        "intervals": {},
        "delta_e": 0.0101,
        "delta_h": 0.0222,
        "figure": "figures/never-drawn.png",
    }
    return {
        "sweep": "demo",
        "task": "SyntheticTranslation ve->ka <script>alert(1)</script>",
        "points": [point, {**point, "id": "cd34", "method": "fmt"}],
        "fits": [fit, additive],
        "form_comparison": [
            {
                "method": "lora",
                "axis": "model_size",
                "winner": "additive",
                "ranking": [
                    {"law": "additive", "delta_e": 0.0101, "delta_h": 0.0222},
                    {"law": "multiplicative", "delta_e": 0.0113, "delta_h": 0.0347},
                ],
            }
        ],
        "critical": [
            {
                "axis": "model_size",
                "method_a": "fmt",
                "method_b": "lora",
                "x": [25248, 55536],
                "df_c": [1234.7, None],
                "figure": "figures/critical-fmt-lora-model_size.png",
            }
        ],
        "claims": [
            {"id": 1, "claim": "The joint law fits & extrapolates", "holds": True, "evidence": "max Delta_h 0.0347"},
            {"id": 2, "claim": "alpha_m > alpha_p", "holds": False, "evidence": "alpha_m 0.21 < alpha_p 0.3"},
            {"id": 5, "claim": "PET keeps few-shot ability", "holds": None, "evidence": "no few-shot eval"},
        ],
    }


@pytest.fixture
def report(tmp_path) -> Path:
    return write_report(make_laws(tmp_path), tmp_path)


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_report_shows_every_number_verdict_and_winner(report):
    assert report == report.parent / "report.html"
    html = report.read_text()
    numbers = ["12", "0.2173", "[0.1529, 0.2841]", "0.0113", "0.0347", "0.0222", "4.4", "1,235", "55,536"]
    for value in [*numbers, "never cross"]:
        assert value in html, value
    (winner,) = re.findall(r'<tr class="winner">(.*?)</tr>', html)
    assert "additive" in winner and "best" in winner and "0.0222" in winner
    assert html.count('class="holds">holds<') == 1
    assert html.count('class="fails">does not hold<') == 1
    assert html.count('class="untestable">not testable<') == 1
    assert "demo" in html and "lora, fmt" in html and "<td>2</td>" in html  # header: points and methods
    assert "max Delta_h 0.0347" in html


def test_report_escapes_text(report):
    html = report.read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "fits &amp; extrapolates" in html
    assert "alpha_m &gt; alpha_p" in html


def test_report_embeds_figures_and_names_a_missing_one(report):
    html = report.read_text()
    images = _images(html)
    assert len(images) == 2
    assert all(image.startswith(PNG_MAGIC) and len(image) > 1000 for image in images)
    assert "figure missing: figures/never-drawn.png" in html
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", html)  # nothing loaded from outside


def test_report_renders_when_every_figure_and_section_is_missing(tmp_path):
    laws = make_laws(tmp_path)
    shutil.rmtree(tmp_path / "figures")
    sparse = copy.deepcopy(laws) | {"form_comparison": [], "critical": [], "claims": []}
    html = write_report(sparse, tmp_path).read_text()
    assert not _images(html)
    assert html.count("figure missing:") == 2
    assert "No claim was evaluated" in html and "No pair of methods" in html


# The report has no scripts, so the probe is added to a copy: it lists each image's decoded size once the
# page has loaded; a deliberately broken image and its own console error show both checks can fail.
PROBE = """<img id="control" src="data:image/png;base64,AAAA"><script>
window.addEventListener("load", () => {
  const sizes = [...document.images].map(i => ({id: i.id, w: i.naturalWidth, h: i.naturalHeight}));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(sizes);
  document.body.appendChild(out);
  console.error("probe done");
});
</script></body>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=30, check=True)


def _console(stderr: str) -> list[str]:
    # Chromium logs every console message (any level) as ...:CONSOLE...] "text", source: ...
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    path = report
    shot = tmp_path / "shot.png"
    rendered = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", path.as_uri())
    assert _console(rendered.stderr) == []
    image = plt.imread(shot)
    assert image.shape[:2] == (2000, 1200)
    assert image.std() > 0.01  # not a blank page

    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text().replace("</body>", PROBE))
    dumped = _chromium(tmp_path, "--dump-dom", probe.as_uri())
    (console,) = _console(dumped.stderr)
    assert '"probe done"' in console
    sizes = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dumped.stdout).group(1))
    figures = [size for size in sizes if size["id"] != "control"]
    assert len(figures) == 2
    assert all(size["w"] == 200 and size["h"] == 150 for size in figures)  # 4x3 inches at 50 dpi
    assert [size["w"] for size in sizes if size["id"] == "control"] == [0]
