"""The learner's real path, in a real browser: JupyterLab in headless Chromium (Selenium), on a student release.

Needs Debian's `chromium` and `chromium-driver` (skipped without them, except under COURSE_REQUIRE_BROWSER=1, as in
CI: see tests/conftest.py). Every process started here (JupyterLab and its kernels, chromedriver and Chromium) is
stopped by its pid at teardown; screenshots are saved in the test's temporary folder.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from test_website import make_tiny_site

REPO = Path(__file__).resolve().parents[1]
EXERCISE = REPO / 'nbs' / 'exercises' / '01_transfer_learning.ipynb'
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def stop_tree(pid: int, timeout: float = 10.0) -> list:
    "Stop process `pid` and every process below it, each by its pid (TERM, then KILL): the pids that were running."
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    gone, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=timeout)
    return [p.pid for p in procs]


def wait_for(fn, timeout: float, what: str, interval: float = 0.25):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


@pytest.fixture
def lab(tmp_path, mirror):
    "JupyterLab on a free local port with a token, its root a temporary copy of the exercise's student release."
    from course_lib.release import release

    rel = tmp_path / 'release'
    release([EXERCISE], rel)
    root = tmp_path / 'lab'
    shutil.copytree(rel / 'student', root)
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        'PYTHONPATH': os.pathsep.join([str(REPO)] + [p for p in [os.environ.get('PYTHONPATH')] if p]),
        'COURSE_DATA_MIRROR': str(mirror),
        'COURSE_SCALE': 'tiny',
        'COURSE_CACHE': str(tmp_path / 'cache'),
        'MPLBACKEND': 'module://matplotlib_inline.backend_inline',
        'JUPYTER_RUNTIME_DIR': str(tmp_path / 'jupyter-runtime'),
        'JUPYTERLAB_SETTINGS_DIR': str(tmp_path / 'lab-settings'),
        'JUPYTERLAB_WORKSPACES_DIR': str(tmp_path / 'lab-workspaces'),
    }
    cmd = [
        sys.executable, '-m', 'jupyter', 'lab', '--no-browser', f'--port={port}', '--ServerApp.ip=127.0.0.1',
        '--ServerApp.port_retries=0', f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={root}',
        '--LabApp.news_url=', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
        '--LabApp.extension_manager=readonly', '--allow-root',  # CI runs as root; never ask PyPI for extensions
    ]  # fmt: skip
    log = open(tmp_path / 'jupyterlab.log', 'w')
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://127.0.0.1:{port}'

    def up():
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited ({proc.returncode}): {(tmp_path / 'jupyterlab.log').read_text()}")
        try:
            with urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(up, 90, 'JupyterLab to answer')
        yield dict(url=url, token=token, root=root, proc=proc)
    finally:
        stopped = stop_tree(proc.pid)  # the server and the kernels it started (own sessions, but its children)
        log.close()
        assert proc.poll() is not None, f"JupyterLab (pid {proc.pid}) still running after teardown"
        import psutil

        assert not [p for p in stopped if psutil.pid_exists(p) and psutil.Process(p).status() != 'zombie']


@pytest.fixture
def browser(tmp_path):
    "Headless Chromium driven by Debian's chromedriver; both stopped by pid at teardown."
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = shutil.which('chromium')
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--window-size=1400,1100'):
        opts.add_argument(a)
    opts.add_argument(f'--user-data-dir={tmp_path / "chromium-profile"}')
    log = open(tmp_path / 'chromedriver.log', 'w')
    service = Service(shutil.which('chromedriver'), log_output=log, popen_kw={'start_new_session': True})
    driver = webdriver.Chrome(service=service, options=opts)
    pid = service.process.pid
    try:
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            stop_tree(pid)
            log.close()


def cells(driver):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')


def cell_with(driver, text: str) -> int:
    "The index of the first cell whose editor holds `text`."
    js = "return [...arguments[0]].map(c => (c.querySelector('.cm-content') || c).textContent);"
    srcs = driver.execute_script(js, cells(driver))
    return next(i for i, s in enumerate(srcs) if text in s)


def prompt(driver, i: int) -> str:
    return driver.execute_script("return arguments[0].querySelector('.jp-InputPrompt').textContent;", cells(driver)[i])


def run_cell(driver, i: int, timeout: float = 180) -> str:
    "Select cell i (click its prompt), run it with Shift+Enter, wait until its prompt shows a new number; its output."
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    before = prompt(driver, i)
    c = cells(driver)[i]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", c)
    ActionChains(driver).move_to_element(c.find_element('css selector', '.jp-InputPrompt')).click().perform()
    ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
    wait_for(lambda: re.fullmatch(r'\[\d+\]:', prompt(driver, i).strip()) and prompt(driver, i) != before, timeout,
             f'cell {i} to run')  # fmt: skip
    return driver.execute_script(
        "return [...arguments[0].querySelectorAll('.jp-OutputArea-output')].map(o => o.innerText).join('\\n');",
        cells(driver)[i],
    )


def type_into(driver, i: int, source: str):
    "Replace cell i's text by typing `source` into its CodeMirror editor, line by line (auto-indent undone)."
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    editor = cells(driver)[i].find_element('css selector', '.cm-content')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", editor)
    editor.click()
    ActionChains(driver).key_down(Keys.CONTROL).send_keys('a').key_up(Keys.CONTROL).send_keys(Keys.DELETE).perform()
    for n, line in enumerate(source.splitlines()):
        a = ActionChains(driver)
        if n:  # a new line, then select and delete the indentation the editor added, then type ours
            a.send_keys(Keys.ENTER).key_down(Keys.SHIFT).send_keys(Keys.HOME).key_up(Keys.SHIFT).send_keys(Keys.DELETE)
        a.send_keys(line).perform()
    js = "return [...arguments[0].querySelectorAll('.cm-line')].map(l => l.textContent).join('\\n');"
    typed = driver.execute_script(js, cells(driver)[i])
    assert [x.rstrip() for x in typed.splitlines()] == [x.rstrip() for x in source.splitlines()], typed


def instructor_answer(qid: str) -> str:
    "The instructor's answer cell for `qid`, solution markers left out."
    from course_lib.exercise import read_exercise

    ex = read_exercise(EXERCISE)
    src = ex.nb.cells[ex.questions[qid].answer_cell].source
    drop = ('### BEGIN SOLUTION', '### END SOLUTION')
    return '\n'.join(x for x in src.splitlines() if x.strip() not in drop and not x.startswith('#| hint:'))


def test_a_learner_checks_an_answer_in_jupyterlab_and_reads_the_site(lab, browser, tmp_path, tmp_path_factory):
    from selenium.webdriver.common.by import By
    from course_lib.exercise import read_exercise

    t0 = time.monotonic()
    d = browser
    hint = read_exercise(EXERCISE).questions['q1'].hint
    d.get(f"{lab['url']}/lab/tree/{EXERCISE.name}?token={lab['token']}")
    wait_for(lambda: len(cells(d)) > 5 and d.find_elements(By.CSS_SELECTOR, '.cm-content'), 120, 'the notebook')
    wait_for(lambda: 'Idle' in d.execute_script("return document.body.innerText"), 120, 'the kernel to be idle')
    first, setup = cell_with(d, 'register_hints('), cell_with(d, 'from course_lib.core import')
    answer, check = cell_with(d, '#| exercise: q1'), cell_with(d, "check('q1'")
    assert first == 0 and first < setup < answer < check
    run_cell(d, first)  # "Run this cell first": check() and hint() and the hint levels
    out = run_cell(d, setup, timeout=300)
    assert 'parameters' in out, out  # the setup cell loaded the pretrained network
    run_cell(d, answer)  # the untouched stub
    verdict = run_cell(d, check)
    d.save_screenshot(str(tmp_path / '1_stub_verdict.png'))
    assert 'q1' in verdict and '✅' not in verdict and ('⏳' in verdict or '✗' in verdict), verdict
    assert hint in verdict, verdict  # the untouched stub: not answered yet, with the hint

    type_into(d, answer, "hint('q1')")  # stuck: the next, more specific hint
    second = run_cell(d, answer)
    assert second.startswith('q1, hint 2 of') and 'more: run hint' in second, second
    type_into(d, answer, instructor_answer('q1'))
    run_cell(d, answer)
    verdict = run_cell(d, check)
    d.save_screenshot(str(tmp_path / '2_answer_verdict.png'))
    assert '✅ q1' in verdict and '✓' in verdict and '✗' not in verdict, verdict
    t_lab = time.monotonic() - t0

    base = tmp_path_factory.getbasetemp() / 'tiny_site'
    base.mkdir(exist_ok=True)
    site = Path(make_tiny_site(base)['site'])
    t1 = time.monotonic()
    first = sorted((site / 'lessons').glob('*.html'))[0]
    d.get(first.as_uri())
    imgs = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, '.cell_output img'), 30, 'a plot on the first lesson page')
    img = imgs[0]
    d.execute_script("arguments[0].scrollIntoView({block: 'center'});", img)
    size = wait_for(
        lambda: d.execute_script("const i = arguments[0]; return i.complete && i.naturalWidth > 0 && i.naturalWidth;", img),
        30,
        'the first plot to render',
    )  # fmt: skip
    d.save_screenshot(str(tmp_path / '3_site_first_plot.png'))
    assert size > 50
    assert 'tiny' in d.find_element(By.TAG_NAME, 'body').text  # the banner names the run's scale
    shots = sorted(p.name for p in tmp_path.glob('*.png'))
    assert shots == ['1_stub_verdict.png', '2_answer_verdict.png', '3_site_first_plot.png']
    print(
        f"\nbrowser test: JupyterLab path {t_lab:.1f} s, site page {time.monotonic() - t1:.1f} s, "
        f"load {os.getloadavg()[0]:.2f}; screenshots in {tmp_path}; {json.dumps(shots)}"
    )
