"""The demo in a real browser: the app served on 127.0.0.1 with tiny saved models, driven by Debian's
headless Chromium through Selenium and chromedriver (no browser is downloaded).

`python tests/test_demo_browser.py --model DIR [--corpus wiki.txt] [--repeats N]` measures the time
from clicking Answer to the answer being in the page for a real checkpoint (docs/demo.md)."""

import argparse
import shutil
import socket
import statistics
import sys
import tempfile
from pathlib import Path

import pytest
from demo_helpers import reference_answer, save_char_gpt, write_corpus
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from hfmodels.demo import build_demo, launch

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1400",
)
WAIT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium(profile: Path) -> webdriver.Chrome:
    """Headless Debian Chromium with a fresh profile in `profile`."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def serve(folders, corpus, data_dir=None) -> tuple:
    """The demo for `folders`, served in this process on a free port; (demo, url). Without
    `data_dir`, an empty one: no gold places."""
    demo = build_demo(
        [str(f) for f in folders], corpus=corpus, data_dir=data_dir or Path(corpus).parent / "none"
    )
    port = free_port()
    launch(demo, "127.0.0.1", port, block=False)
    return demo, f"http://127.0.0.1:{port}/"


def open_page(driver, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#birthplace-question textarea")
    )


_CLICK = """
const watched = ["birthplace-result", "birthplace-message"].map((id) => document.getElementById(id));
window.__clicked = performance.now();
window.__changed = null;
const observer = new MutationObserver(() => { window.__changed = performance.now(); });
watched.forEach((el) => observer.observe(el, {subtree: true, childList: true, characterData: true, attributes: true}));
document.getElementById("birthplace-submit").click();
"""


def _state(driver) -> tuple[str, str]:
    return tuple(
        driver.find_element(By.ID, i).get_attribute("textContent")
        for i in ("birthplace-result", "birthplace-message")
    )


def ask(driver, text: str) -> float:
    """Type `text` into the question box, click Answer and wait until the result or the message has
    changed and no output is pending; returns the seconds from the click to the last change of the
    result or message in the page (timed in the page with `performance.now()`)."""
    box = driver.find_element(By.CSS_SELECTOR, "#birthplace-question textarea")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    if text:
        box.send_keys(text)
    before = _state(driver)
    driver.execute_script(_CLICK)

    def settled(d) -> bool:
        pending = d.find_elements(By.CSS_SELECTOR, ".pending, .generating")
        return not pending and _state(d) != before

    WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05).until(settled)
    return driver.execute_script("return (window.__changed - window.__clicked) / 1000;")


def answer_cells(driver) -> list[str]:
    """The cells of the result table's answer row, as the page holds them."""
    for row in driver.find_elements(By.CSS_SELECTOR, "#birthplace-result table tr"):
        cells = [c.get_attribute("textContent") for c in row.find_elements(By.CSS_SELECTOR, "td")]
        if cells and cells[0].strip() == "answer":
            return cells[1:]
    raise AssertionError("no answer row in the page: " + driver.find_element(By.ID, "birthplace-result").text)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_browser")
    folders = [save_char_gpt(root / "vanilla"), save_char_gpt(root / "perceiver", "perceiver", seed=1)]
    corpus = write_corpus(root / "data")
    demo, url = serve([*folders, root / "data"], corpus)
    driver = chromium(root / "profile")
    try:
        open_page(driver, url)
        yield driver, folders
    finally:
        driver.quit()
        demo.close()


def test_the_page_shows_generates_answer_side_by_side(page, tmp_path):
    driver, folders = page
    assert "not a model folder" in driver.find_element(By.ID, "demo-status").get_attribute("textContent")
    question = "Where was Ada Lovelace born?"
    ask(driver, "Ada Lovelace")
    expected = [reference_answer(f, question) for f in folders]
    assert all(a == a.strip() for a in expected)  # a Markdown table cell drops outer spaces
    assert answer_cells(driver) == [a or "(empty)" for a in expected]
    text = driver.find_element(By.ID, "birthplace-result").get_attribute("textContent")
    assert "Ada Lovelace has a document (wiki.txt, line 1" in text and "London baseline" in text
    shot = tmp_path / "demo_birthplace.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


@pytest.mark.parametrize(
    "bad, message",
    [
        ("", "Type a name"),
        ("Ada Lovelacé", "character 'é' (U+00E9) at index 21 is not in the vocabulary"),
        ("A" * 60, "characters with its ⁇; vanilla (vanilla) accepts at most 47"),
    ],
)
def test_bad_input_shows_a_message_and_the_next_request_works(page, bad, message):
    driver, folders = page
    ask(driver, bad)
    assert message in driver.find_element(By.ID, "birthplace-message").get_attribute("textContent")
    assert not driver.find_elements(By.CSS_SELECTOR, "#birthplace-result table")
    ask(driver, "Alan Turing")
    assert answer_cells(driver)[0] == (
        reference_answer(folders[0], "Where was Alan Turing born?") or "(empty)"
    )
    assert not driver.find_element(By.ID, "birthplace-message").get_attribute("textContent").strip()


def test_a_folder_that_is_not_a_model_typed_in_the_page(page, tmp_path):
    driver, folders = page
    box = driver.find_element(By.CSS_SELECTOR, "#char_gpt-folders textarea")
    original = box.get_attribute("value")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(str(tmp_path))
    ask(driver, "Marie Curie")
    assert (
        "not a model folder (it has no config.json)" in driver.find_element(By.ID, "birthplace-message").text
    )
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(original)
    ask(driver, "Marie Curie")
    assert answer_cells(driver)[0] == (
        reference_answer(folders[0], "Where was Marie Curie born?") or "(empty)"
    )


def measure(argv=None) -> None:
    """Print the median and worst seconds from click to answer over `--repeats` questions."""
    parser = argparse.ArgumentParser(description=measure.__doc__)
    parser.add_argument("--model", nargs="+", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--data_dir", default=None, help="data directory with the birthplace TSVs")
    parser.add_argument(
        "--names", nargs="+", default=["Ada Lovelace", "Alan Turing", "Marie Curie", "Bob Dylan"]
    )
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--screenshot", default=None)
    args = parser.parse_args(argv)
    demo, url = serve(args.model, args.corpus, args.data_dir)
    profile = Path(tempfile.mkdtemp(prefix="demo_chromium_"))
    driver = chromium(profile)
    names = args.names
    try:
        open_page(driver, url)
        ask(driver, names[-1])  # the first request loads the model
        times = [ask(driver, names[i % len(names)]) for i in range(args.repeats)]
        print(" ".join(f"{t:.3f}" for t in times))
        if args.screenshot:
            driver.save_screenshot(args.screenshot)
    finally:
        driver.quit()
        demo.close()
        shutil.rmtree(profile, ignore_errors=True)
    print(
        f"click to answer over {len(times)} questions: median {statistics.median(times):.3f} s, max {max(times):.3f} s"
    )


if __name__ == "__main__":
    measure(sys.argv[1:])
