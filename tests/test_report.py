"""The HTML report over fabricated run folders, and (when Chromium is installed) as a browser shows it."""
import json
import re
import shutil
import subprocess

import pytest
from test_compare import fabricate

from zoo.compare import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "sweep"
    for name, cell, accuracy, seed in (("0", "simple_rnn", 0.70, 1), ("1", "gru", 0.86, 1), ("2", "gru", 0.88, 2)):
        fabricate(root, name, "imdb", cell, accuracy, seed=seed)
        (root / name / "history.csv").write_text(
            "epoch,accuracy,loss,seconds,val_accuracy,val_loss\n0,0.6,0.7,10,0.62,0.68\n1,0.8,0.5,20,0.8,0.52\n")
    fabricate(root, "3", "imdb", "lstm", status="failed", error="NonFiniteLoss: loss became nan")
    fabricate(root, "4", "translation", "gru", 0.4, seed=1)
    (root / "4" / "samples.json").write_text(json.dumps([{"source": "I am here.", "references": ["Estoy aquí."],
                                                          "output": "Estoy aquí."}]))
    fabricate(root, "5", "shakespeare", "lstm", 0.5, seed=1)
    (root / "5" / "samples.txt").write_text("=== epoch 1, temperature 0.8 ===\nROMEO: wh\n\n"
                                            "=== epoch 2, temperature 0.8 ===\nROMEO: What light\n\nJULIET: Ay\n\n")
    return root


def test_report_has_the_table_plots_and_samples(runs, tmp_path):
    out = tmp_path / "report.html"
    assert main([str(runs), "--format", "html", "--out", str(out)]) == 0
    page = out.read_text()
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr") == 6 and '<tr class="failed">' in body and "loss became nan" in body
    best = re.findall(r'<tr class="best">(.*?)</tr>', body)
    assert len(best) == 3 and "gru" in best[0] and "0.8800" in best[0]  # one best row per task, imdb's is gru
    assert page.count("data:image/png;base64,") == 3 + 2 + 2  # bars and scatter per task, curves where histories
    assert "Estoy aquí." in page and "ROMEO: What light" in page and "ROMEO: wh" not in page
    assert "Mean ± std over seeds" in page and "0.8700 ± 0.0141" in page and "<td>2</td>" in body
    assert "http" not in page.replace("http-equiv", "")  # self-contained: nothing fetched


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs the Debian package)")
def test_chromium_renders_the_report(runs, tmp_path):
    out = tmp_path / "report.html"
    assert main([str(runs), "--format", "html", "--out", str(out)]) == 0
    # no background networking: this machine's closed network refuses Chromium's own connections, slowly
    headless = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*headless, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr
    assert dom.stdout.count("<tr") >= 7 and dom.stdout.count("<img") >= 7
    shot = tmp_path / "report.png"
    subprocess.run([*headless, f"--screenshot={shot}", "--window-size=1280,1600", out.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
