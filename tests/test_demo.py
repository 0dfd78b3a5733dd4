"""The demo page in a real headless Chromium: type a review, submit, read every run's answer and the chart."""
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT, TEST_DATA, TINY

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
REVIEW = "It was not great, but I recommend it."


def missing() -> str | None:
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "Chromium and its driver are not installed (.ci/run installs Debian's chromium, chromium-driver)"
    for module in ("gradio", "selenium"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (the demo extra: pip install -e '.[demo]')"
    return None


pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")


@pytest.fixture(scope="module")
def imdb_runs(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from zoo.runner import run

    folders = []
    for cell in ("gru", "lstm"):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("config", overrides=[*TINY, "task=imdb", f"cell={cell}", "trainer.epochs=1",
                                               "trainer.limit_batches=2"])
        folders.append(tmp_path_factory.mktemp(cell))
        run(cfg, folders[-1])
    return folders


@pytest.fixture
def demo(imdb_runs, tmp_path):
    from zoo.demo import free_port

    port = free_port(0)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ZOO_DATA_DIR": str(TEST_DATA)}
    server = subprocess.Popen([sys.executable, "-m", "zoo.demo", *map(str, imdb_runs), "--port", str(port)],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert server.poll() is None, server.stdout.read()
        time.sleep(0.5)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)


@contextlib.contextmanager
def chromium(tmp_path, window: str = "1400,1800"):
    """Headless Chromium driven by Selenium, with a profile of its own under tmp_path; quits on leaving."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", f"--window-size={window}",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield browser
    finally:
        browser.quit()


@contextlib.contextmanager
def served(trained_runs: list):
    """The demo page of loaded runs, served from this process on a free port: its address."""
    from zoo import demo

    port = demo.free_port(0)
    blocks = demo.page(trained_runs)
    blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        blocks.close()


def test_the_page_answers_a_typed_review_in_every_run_column(demo, imdb_runs, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(tmp_path) as browser:
        browser.get(demo)
        wait = WebDriverWait(browser, 90)
        box = wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, "#input-text textarea")))
        box.send_keys(REVIEW)
        browser.find_element(By.CSS_SELECTOR, "#submit").click()
        for i in range(len(imdb_runs)):
            wait.until(lambda b: any(label in b.find_element(By.CSS_SELECTOR, f"#answer-{i}").text
                                     for label in ("positive", "negative")))
        answers = [browser.find_element(By.CSS_SELECTOR, f"#answer-{i}").text for i in range(len(imdb_runs))]
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#per-word img"))
        assert browser.find_elements(By.CSS_SELECTOR, "#gates-0 img") and browser.find_elements(By.CSS_SELECTOR,
                                                                                               "#gates-1 img")
        page = browser.page_source
        assert "gru · many_to_one" in page and "lstm · many_to_one" in page
        assert "TF-IDF of word 1-2-grams: 0." in page  # the n-gram baseline beside each run's test accuracy
        browser.save_screenshot(str(tmp_path / "demo.png"))
    from zoo.runs import load

    for answer, folder in zip(answers, imdb_runs):  # the page shows what predict answers
        [expected] = load(folder).predict([REVIEW])
        assert expected["label"] in answer and f"{expected['probability']:.1%}" in answer
    assert (tmp_path / "demo.png").stat().st_size > 10_000
