"""`corral ui` in a real browser: Debian's Chromium, headless, driven through chromium-driver by
Selenium. The screenshot and the downloaded values stay in tests/artifacts/ (not in Git)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from conftest import CHART, HELMS, ROOT, corral
from corral.flags import help_lines

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / "tests" / "artifacts"
CATALOG = ROOT / "tests" / "fixtures" / "ui-catalog.yaml"
CONFIG = ROOT / "tests" / "fixtures" / "configs" / "qwen3-30b-a3b-fp8" / "config.json"
GROUP = "qwen3-30b-a3b-fp8"


@pytest.fixture
def ui() -> Iterator[str]:
    """`corral ui` on an ephemeral loopback port; its URL."""
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "corral"), "ui", "--catalog", str(CATALOG), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().split()[3]
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless Chromium that saves downloads into tmp_path/downloads."""
    missing = [str(p) for p in (CHROMIUM, DRIVER) if not p.exists()]
    assert not missing, f"{', '.join(missing)} missing: run `make browser` (part of `make setup`)"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1500",
    ):
        options.add_argument(arg)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def text_of(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def settled(driver: WebDriver, css: str, starts: str) -> str:
    """The element's text once it starts with `starts` and the page is not re-checking."""

    def ready(d: WebDriver) -> str | bool:
        text = text_of(d, css)
        busy = text_of(d, "#status") == "checking…"
        return text if text.startswith(starts) and not busy else False

    return str(WebDriverWait(driver, 20).until(ready))


def type_into(driver: WebDriver, css: str, text: str) -> None:
    field = driver.find_element(By.CSS_SELECTOR, css)
    field.clear()
    field.send_keys(text)


def test_compose_size_fix_and_download_a_group(ui: str, browser: WebDriver, tmp_path: Path) -> None:
    browser.get(ui)
    Select(browser.find_element(By.ID, "f-catalog")).select_by_visible_text("Qwen3 30B-A3B FP8")
    assert (
        browser.find_element(By.ID, "f-model").get_attribute("value")
        == "hf://Qwen/Qwen3-30B-A3B-FP8"
    )
    Select(browser.find_element(By.ID, "f-engine")).select_by_value("vllm")
    type_into(browser, "#s-maxContextLength", "8192")
    type_into(browser, "#f-concurrency", "8")
    Select(browser.find_element(By.ID, "f-gpu")).select_by_value("l4-24gb")

    reason = (
        "29.0 GiB of weights plus the KV cache of one 8192-token sequence do not fit 1 GPU(s) of "
        "23034 MiB at memory fraction 0.9 (18.2 GiB usable after 2 GiB overhead each); tensor "
        "parallel 2 fits"
    )
    assert settled(browser, "#verdict", "Does not fit") == f"Does not fit 1 x l4-24gb: {reason}"
    assert (
        text_of(browser, '.problem[data-slot="gpus"]')
        == f"modelGroups.{GROUP}.gpus: {GROUP}: {reason}"
    )
    assert text_of(browser, "#status") == "corral check: 1 problem(s)"
    l4 = browser.find_element(By.CSS_SELECTOR, '#bars g[data-profile="l4-24gb"]')
    assert l4.find_element(By.CSS_SELECTOR, "text.nofit").text == "does not fit"
    assert l4.find_elements(By.CSS_SELECTOR, "rect.over")  # the bar runs past the GPU's memory
    assert text_of(browser, "#facts").splitlines()[:4] == ["model", GROUP, "parameters", "30.53 B"]

    Select(browser.find_element(By.ID, "f-gpu")).select_by_value("h100-80gb")
    verdict = settled(browser, "#verdict", "Fits")
    assert verdict == "Fits 1 x h100-80gb; room for 54 sequences of 8192 tokens."
    assert text_of(browser, "#status") == f"corral check: ok (modelGroups.{GROUP})"
    assert text_of(browser, '.problem[data-slot="gpus"]') == ""
    h100 = browser.find_element(By.CSS_SELECTOR, '#bars g[data-profile="h100-80gb"]')
    assert h100.find_element(By.CSS_SELECTOR, "text.fit").text.startswith("fits, ")
    assert not h100.find_elements(By.CSS_SELECTOR, "rect.over")

    type_into(browser, "#s-gpuMemoryFraction", "1.5")
    settled(browser, "#status", "corral check: 1 problem(s)")
    slot = browser.find_element(By.CSS_SELECTOR, '.problem[data-slot="settings.gpuMemoryFraction"]')
    assert (
        slot.text
        == f"modelGroups.{GROUP}.settings.gpuMemoryFraction: 1.5 is greater than the maximum of 1"
    )
    field = browser.find_element(By.ID, "s-gpuMemoryFraction")
    assert field.get_attribute("aria-invalid") == "true"
    # The problem sits right under its field, in the same setting block.
    assert slot.find_element(By.XPATH, "..") == field.find_element(By.XPATH, "../..")
    type_into(browser, "#s-gpuMemoryFraction", "0.85")
    settled(browser, "#status", "corral check: ok")
    assert field.get_attribute("aria-invalid") is None

    # A misspelt engine flag gets corral check's line beside the field; the catalog look-up then
    # shows Corral's own line on what the right flag does, and adds it.
    type_into(browser, "#f-extraArgs", "--max-num-seq=64")
    settled(browser, "#status", "corral check: 1 problem(s)")
    assert text_of(browser, '.problem[data-slot="extraArgs"]') == (
        f'modelGroups.{GROUP}.extraArgs[0]: unknown vllm 0.33.0 flag "--max-num-seq"; '
        'did you mean "--max-num-seqs"?'
    )
    browser.find_element(By.ID, "f-extraArgs").clear()
    type_into(browser, "#flag-lookup", "--max-num-seqs")
    assert text_of(browser, "#flag-help") == help_lines("vllm-0.33.0").get("--max-num-seqs", "")
    assert text_of(browser, "#flag-facts") == "--max-num-seqs: takes an integer."
    browser.find_element(By.ID, "flag-add").click()
    extra = browser.find_element(By.ID, "f-extraArgs")
    assert extra.get_attribute("value") == "--max-num-seqs="
    extra.send_keys("64")
    settled(browser, "#status", "corral check: ok")
    assert text_of(browser, '.problem[data-slot="extraArgs"]') == ""

    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "ui.png"))
    browser.find_element(By.ID, "download").click()
    downloaded = tmp_path / "downloads" / "values.yaml"
    deadline = time.monotonic() + 20
    while not downloaded.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (
        downloaded.read_text() == text_of(browser, "#yaml") + "\n"
        or downloaded.read_text().rstrip() == text_of(browser, "#yaml").rstrip()
    )
    shutil.copy(downloaded, ARTIFACTS / "values.yaml")

    values = yaml.safe_load(downloaded.read_text())
    assert values == {
        "modelGroups": {
            GROUP: {
                "engine": "vllm",
                "model": "hf://Qwen/Qwen3-30B-A3B-FP8",
                "revision": "0123456789abcdef0123456789abcdef01234567",
                "gpus": {"count": 1, "type": "h100-80gb"},
                "settings": {"maxContextLength": 8192, "gpuMemoryFraction": 0.85},
                "extraArgs": ["--max-num-seqs=64"],
            }
        }
    }
    checked = corral("check", str(downloaded), "--model-config", f"{GROUP}={CONFIG}")
    assert (checked.returncode, checked.stdout) == (0, f"ok: {downloaded}\n")
    rendered = subprocess.run(
        [str(HELMS["helm4"]), "template", "llm", str(CHART), "--values", str(downloaded)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    engine = next(
        d
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"] == f"llm-corral-{GROUP}"
    )
    pod = engine["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][-4:] == [
        "--tensor-parallel-size=1",
        "--max-model-len=8192",
        "--gpu-memory-utilization=0.85",
        "--max-num-seqs=64",
    ]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
