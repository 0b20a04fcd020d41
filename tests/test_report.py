"""`snakemake --report` on the finished demo, opened in a real headless Chromium.

The report is a single-page app: the test clicks through it as a person would (each result category, each
result's view button) and checks in the rendered page that every figure shown has loaded, that the results
table and the environment render as tables and the config as text, that the CSV / YAML downloads carry data,
and that every result has a caption. Screenshots
are kept under results/report/screenshots/ of the temporary workflow and copied to $EVSNN_ARTIFACTS when set.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe), so no Python package beyond
the standard library and no chromedriver are needed.
"""
import base64
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from _workflow_helpers import finished_demo, smk

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
                  "--disable-extensions", "--mute-audio", "--hide-scrollbars", "--remote-debugging-pipe"]
WIDTH, HEIGHT = 1400, 900


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_or_skip() -> str:
    """The Chromium binary; installs Debian's `chromium` when missing and possible, else skips with the reason."""
    path = find_chromium()
    if path:
        return path
    if not shutil.which("apt-get"):
        pytest.skip("headless Chromium is not installed and there is no apt-get to install it "
                    "(Debian: apt-get install chromium)")
    if os.geteuid() != 0:
        pytest.skip("headless Chromium is not installed and installing it needs root: apt-get install chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "chromium"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:  # a stale package list: update once and retry
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    path = find_chromium()
    if not path:
        pytest.skip(f"headless Chromium is not installed and `apt-get install chromium` failed: {proc.stderr[-500:]}")
    return path


class Chromium:
    """A headless Chromium page driven over the Chrome DevTools protocol (JSON messages on a pipe, NUL-ended)."""

    def __init__(self, binary: str, profile_dir: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4: hand it the pipe ends from fds >= 10 so
        # that moving them onto 3 and 4 never clobbers one of them
        to_chrome_r, from_chrome_w = (self._high_fd(to_chrome_r), self._high_fd(from_chrome_w))
        shell = f'exec "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-'
        self.stderr = open(profile_dir.parent / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            ["bash", "-c", shell, "chromium", binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}",
             f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
            pass_fds=(to_chrome_r, from_chrome_w), stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._answers: dict[int, dict] = {}
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime"):
            self.send(f"{domain}.enable", session=self.session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}, session=self.session)

    @staticmethod
    def _high_fd(fd: int) -> int:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return high

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._answers[-1] = {"error": {"message": "Chromium closed the DevTools pipe"}}
                    self._cond.notify_all()
                return
            buf += chunk
            *messages, buf = buf.split(b"\0")
            with self._cond:
                for raw in messages:
                    msg = json.loads(raw)
                    if "id" in msg:
                        self._answers[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                self._cond.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60):
        with self._cond:
            self._next_id += 1
            ident = self._next_id
        msg = {"id": ident, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._answers and -1 not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer from Chromium to {method} in {timeout} s")
                self._cond.wait(left)
            answer = self._answers.pop(ident, None) or self._answers[-1]
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def evaluate(self, expression: str, context: int | None = None):
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        if context is not None:
            params["contextId"] = context
        res = self.send("Runtime.evaluate", params, session=self.session)
        if "exceptionDetails" in res:
            raise AssertionError(f"JavaScript error in {expression[:200]!r}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30, context: int | None = None, what: str = ""):
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression, context)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what or expression}")
            time.sleep(0.2)

    def navigate(self, url: str):
        self.send("Page.navigate", {"url": url}, session=self.session)
        self.wait_for("document.readyState === 'complete'", what=f"{url} to load")

    def frame_context(self, url: str) -> int:
        """An execution context (an isolated world) inside the child frame that shows ``url``."""
        tree = self.send("Page.getFrameTree", session=self.session)["frameTree"]
        frames = [c["frame"] for c in tree.get("childFrames", []) if c["frame"]["url"] == url]
        assert frames, f"no child frame shows {url[:60]}..."
        return self.send("Page.createIsolatedWorld", {"frameId": frames[-1]["id"], "worldName": "evsnn-test"},
                         session=self.session)["executionContextId"]

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"}, session=self.session)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        self.stderr.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    wf = finished_demo(tmp_path_factory)
    smk(wf, "--report", "report.html")
    return wf / "report.html"


@pytest.fixture(scope="module")
def browser(report):
    binary = chromium_or_skip()
    profile = Path(tempfile.mkdtemp(prefix="evsnn-chromium-")) / "profile"
    profile.mkdir()
    chrome = Chromium(binary, profile)
    try:
        yield chrome
    finally:
        chrome.close()
        shutil.rmtree(profile.parent, ignore_errors=True)


def _save_artifacts(paths):
    dest = os.environ.get("EVSNN_ARTIFACTS")
    if dest:
        Path(dest).mkdir(parents=True, exist_ok=True)
        for p in paths:
            shutil.copy2(p, Path(dest) / p.name)


# JavaScript run in the report page
CLICK_MENU = """(() => {
  const a = [...document.querySelectorAll('nav a')].find(a => a.textContent.trim() === %s);
  if (!a) return false; a.click(); return true; })()"""
# a result row's name: its label cells (model / figure, ...) without the buttons' cell
ROW_NAME = ("(r => [...r.querySelectorAll('td')].filter(td => !td.querySelector('a[type=button]'))"
            ".map(td => td.textContent.trim()).join(' / '))")
RESULT_ROWS = f"[...document.querySelectorAll('nav table tbody tr')].map({ROW_NAME})"
CLICK_VIEW = """(() => {
  const row = [...document.querySelectorAll('nav table tbody tr')].find(r => (%s)(r) === %%s);""" % ROW_NAME + """
  const view = row.querySelectorAll('a[type=button]')[0];
  if (view.hasAttribute('download')) return {download: view.getAttribute('download'), href: view.href.length};
  view.click(); return 'view'; })()"""
CONTENT = """(() => {
  const imgs = [...document.querySelectorAll('img')];
  const frame = document.querySelector('iframe');
  return {imgs: imgs.map(i => ({src: i.src.slice(0, 30), complete: i.complete, width: i.naturalWidth,
                                shown: i.getBoundingClientRect().width > 0})),
          iframe: frame ? frame.src.slice(0, 30) : null}; })()"""
BACK_TO_MENU = """(() => {
  const a = [...document.querySelectorAll('nav ol a')].find(a => a.textContent.trim() === 'Results');
  if (a) { a.click(); return true; } return false; })()"""


IFRAME_PAGE = """(() => { if (document.readyState !== 'complete') return null;
  const box = el => { const r = el.getBoundingClientRect(); return {width: r.width, height: r.height}; };
  const tables = [...document.querySelectorAll('table')].filter(t => t.getClientRects().length)  // shown ones
    .map(t => ({rows: t.querySelectorAll('tbody tr').length,
                                                                    cols: t.querySelectorAll('thead th').length, ...box(t)}));
  const pre = document.querySelector('pre');
  const gifs = [...document.querySelectorAll('img')].filter(i => i.src.startsWith('data:image/gif'))
    .map(i => ({complete: i.complete, width: i.naturalWidth, ...box(i)}));
  return {title: document.title, text: document.body.innerText, tables, gifs,
          pre: pre ? {text: pre.textContent, ...box(pre)} : null}; })()"""


def _iframe_page(chrome, timeout=30):
    """What the report's iframe shows for the selected result (an HTML result as a data: URL, so of another
    origin: read in an isolated world of that frame)."""
    url = chrome.evaluate("app.state.contentPath")
    deadline = time.monotonic() + timeout
    while True:
        try:
            page = chrome.evaluate(IFRAME_PAGE, context=chrome.frame_context(url))
            if page and page["title"]:
                return page
        except (RuntimeError, AssertionError):  # the frame is still committing its document
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the iframe of the report did not render its page")
        time.sleep(0.3)


LANDING = """(() => { const s = document.querySelector('.evsnn-summary'); if (!s) return null;
  const r = s.getBoundingClientRect();
  return {width: r.width, height: r.height, text: s.innerText,
          titles: [...s.querySelectorAll('h2')].map(h => h.textContent.trim()),
          tables: [...s.querySelectorAll('table')].map(t => ({rows: t.querySelectorAll('tbody tr').length,
                                                               width: t.getBoundingClientRect().width})),
          imgs: [...s.querySelectorAll('img')].map(i => ({complete: i.complete, width: i.naturalWidth,
                                                           shown: i.getBoundingClientRect().width}))}; })()"""


def _show_menu(chrome):
    # the breadcrumb "Results" leads back to the main menu (absent when the menu is shown)
    chrome.evaluate(BACK_TO_MENU)
    chrome.wait_for("[...document.querySelectorAll('nav a')].some(a => a.textContent.trim() === 'Workflow')",
                    what="the report menu")


def test_run_record_writes_config_and_environment(tmp_path):
    import yaml

    from evsnn.report import write_run_record

    cfg = {"results": "results", "models": {"m": {"arch": "plif_net", "train": {"lr": 0.001}}}}
    out = {n: tmp_path / n for n in ("config.yaml", "config.html", "environment.html", "environment.yaml")}
    info = write_run_record(cfg, out["config.yaml"], out["config.html"], out["environment.html"], out["environment.yaml"])
    assert yaml.safe_load(out["config.yaml"].read_text()) == cfg
    assert "plif_net" in out["config.html"].read_text()
    page = out["environment.html"].read_text()
    assert page.startswith("<!doctype html>") and '<table class="evsnn">' in page
    for pkg in ("torch", "numpy", "spikingjelly", "lava-nc", "lava-dl", "snakemake", "h5py", "pandas", "numba"):
        assert f"<td>{pkg}</td>" in page
        assert info["packages"][pkg] != "not installed", pkg
    env = yaml.safe_load(out["environment.yaml"].read_text())
    import torch

    assert env["torch"]["cuda_available"] is torch.cuda.is_available()   # what this machine has, not any bool
    assert env["torch"]["cuda_version"] == (torch.version.cuda or "none")
    assert env["torch"]["threads"] == torch.get_num_threads()
    assert not list(tmp_path.glob(".*.tmp"))


def test_html_table_escapes_and_aligns(tmp_path):
    import pandas as pd

    from evsnn.tables import write_html_table

    df = pd.DataFrame([{"model": "a<b", "accuracy": 91.25, "n": 12}])
    write_html_table(df, tmp_path / "t.html", "Title & more", notes=["x < y"])
    page = (tmp_path / "t.html").read_text()
    assert "<td>a&lt;b</td>" in page and '<td class="num">91.25</td>' in page and '<td class="num">12</td>' in page
    assert "<title>Title &amp; more</title>" in page and "<li>x &lt; y</li>" in page


def test_every_report_item_has_category_and_caption_file():
    """Static check over workflow/rules/*.smk: each report(...) names a category and an existing caption."""
    rules = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    items = 0
    for smk_file in sorted(rules.glob("*.smk")):
        text = smk_file.read_text()
        for m in re.finditer(r"\breport\(", text):
            depth, i = 1, m.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            call = text[m.start():i]
            caption = re.search(r'caption="([^"]+)"', call)
            assert "category=" in call, f"{smk_file.name}: {call}"
            if "caption=task_caption(" in call:  # a task package's caption file, checked below
                items += 1
                continue
            assert caption, f"{smk_file.name}: {call}"
            assert (rules / caption.group(1)).resolve().is_file(), f"{smk_file.name}: missing {caption.group(1)}"
            items += 1
    assert items >= 6
    from evsnn.tasks import registry

    for task in registry().values():  # every output and figure a task declares for the report has its caption
        for item in (*task.outputs, *task.figures):
            assert item.caption is None or task.path(item.caption).is_file(), (task.name, item)


@pytest.mark.slow
def test_report_contains_every_result_with_caption(report):
    html = report.read_text()
    assert len(html) > 100_000
    # the report embeds its results as JSON in <script id="results">: var results = {...};
    start = html.index('<script id="results">')
    blob = html[start:html.index("</script>", start)].split("var results = ", 1)[1].strip().rstrip(";")
    results = json.loads(blob)
    names = {Path(p).name for p in results}
    assert {"confusion.png", "curves.png", "gesture.html", "gesture.csv", "config.html", "config.yaml",
            "environment.html", "pose.html", "pose.csv", "overlay.png", "skeleton3d.png", "per_movement.png",
            "depth.html", "depth.csv", "depth_maps.png", "clip.html", "summary.html"} <= names, names
    for path, entry in results.items():
        assert entry["caption"].strip(), f"{path} has no caption"
    env = next(e for p, e in results.items() if p.endswith("environment.html"))
    page = base64.b64decode(env["data_uri"].split("base64,", 1)[1]).decode()
    for pkg in ("torch", "numpy", "spikingjelly", "lava-nc", "lava-dl", "snakemake", "h5py", "pandas",
                "matplotlib", "numba"):
        assert f"<td>{pkg}</td>" in page, pkg
    assert "CUDA available" in page and "torch threads" in page and "Python" in page
    cfg = next(e for p, e in results.items() if p.endswith("config.html"))
    page = base64.b64decode(cfg["data_uri"].split("base64,", 1)[1]).decode()
    assert "gesture_plif" in page and "plif_net" in page


@pytest.mark.slow
def test_report_renders_in_headless_chromium(report, browser):
    chrome = browser
    shots_dir = report.parent / "results" / "report" / "screenshots"
    chrome.navigate(report.as_uri())
    chrome.wait_for("document.querySelector('#app') && document.querySelector('#app').children.length > 0 && "
                    "getComputedStyle(document.querySelector('#loading-screen')).display === 'none'",
                    what="the report app to start")
    # the first page is the results summary: every task's headline table, its metric-against-energy figure and
    # the data it ran on, using the page's width (not the narrow description column beside the rule graph)
    landing = chrome.wait_for(LANDING, what="the results summary on the first page")
    assert sorted(landing["titles"]) == ["DHP19 pose", "DVS128 Gesture", "MVSEC depth"], landing["titles"]
    assert landing["width"] > 900 and len(landing["tables"]) == 3, landing
    assert all(t["rows"] >= 2 and t["width"] > 300 for t in landing["tables"]), landing["tables"]
    assert len(landing["imgs"]) == 3 and all(i["complete"] and i["width"] > 0 and i["shown"] > 200
                                             for i in landing["imgs"]), landing["imgs"]
    text = landing["text"]
    # one data line per task; the pose task names both of its synthetic trees (dhp19, and dhp19_has for the hybrid
    # ANN-SNN paper's models)
    assert text.count("Data: synthetic demo data") == 3 and "synthetic demo data (dhp19_has" in text, text[:3000]
    assert "±" in text and "n = 3" in text, text[:2000]
    assert "Lava vs PyTorch" in text and "layers bit-exact" in text and "published:" in text, text[:2000]
    assert "fp32 arithmetic, 45 nm" in text and "gesture_plif" in text and "pose_cnn" in text
    landing_shot = chrome.screenshot(shots_dir / "report_landing.png")

    categories = chrome.evaluate("Object.keys(categories).sort()")
    assert {"Run", "Tables", "gesture_plif_s0", "pose_cnn", "depth_snn_bino"} <= set(categories), categories
    # the landing page lists every category under "Results"
    menu = chrome.evaluate("[...document.querySelectorAll('nav a')].map(a => a.textContent.trim())")
    assert set(categories) <= set(menu), menu

    shots, seen = [landing_shot, chrome.screenshot(shots_dir / "report_menu.png")], {"img": 0, "table": 0,
                                                                                     "download": 0}
    for category in categories:
        _show_menu(chrome)
        assert chrome.evaluate(CLICK_MENU % json.dumps(category)), f"no menu entry for category {category}"
        rows = chrome.wait_for(RESULT_ROWS, what=f"the result list of {category}")
        expected = chrome.evaluate(f"Object.values(categories[{json.dumps(category)}]).flat().length")
        assert len(rows) == expected, (category, rows)
        for row in rows:
            clicked = chrome.evaluate(CLICK_VIEW % json.dumps(row))
            if clicked != "view":  # CSV / YAML: offered for download (a data: URL), nothing to render
                assert clicked["download"].endswith((".csv", ".yaml")) and clicked["href"] > 200, clicked
                seen["download"] += 1
                continue
            content = chrome.wait_for(
                f"""(() => {{ const c = {CONTENT}; const sel = results[app.state.resultPath];
                   return sel && app.state.contentPath === sel.data_uri &&
                          (c.iframe || c.imgs.filter(i => i.src.startsWith('data:image/png')).length) ? c : null; }})()""",
                what=f"{category} / {row} to show")
            # every <img> on the page that is shown has loaded
            chrome.wait_for(f"{CONTENT}.imgs.every(i => !i.shown || (i.complete && i.width > 0))",
                            what=f"the images of {category} / {row} to load")
            if content["iframe"]:
                assert content["iframe"].startswith("data:text/html"), content
                page = _iframe_page(chrome)
                path = chrome.evaluate("app.state.resultPath")
                what = f"{category} / {row} ({path}): {page}"
                if path.endswith("config.html"):  # the YAML, preformatted
                    assert page["pre"] and "gesture_plif_s0:" in page["pre"]["text"] and page["pre"]["height"] > 200, what
                elif path.endswith("clip.html"):  # a clip: an animated GIF, loaded
                    assert page["gifs"] and all(g["complete"] and g["width"] > 200 for g in page["gifs"]), what
                    seen["clip"] = seen.get("clip", 0) + 1
                elif path.endswith("summary.html"):  # the results summary as a result of its own
                    assert len(page["tables"]) == 3 and "synthetic demo data" in page["text"], what
                else:  # tables: the results table, the environment (system + packages)
                    assert page["tables"], what
                    for t in page["tables"]:
                        assert t["rows"] >= 1 and t["cols"] >= 2 and t["width"] > 100 and t["height"] > 20, what
                    expect = {"gesture.html": "gesture_plif", "pose.html": "pose_cnn",
                              "depth.html": "depth_snn_bino"}.get(Path(path).name, "spikingjelly")
                    assert expect in page["text"], what
                    seen["table"] += 1
            else:
                shown = [i for i in content["imgs"] if i["src"].startswith("data:image/png")]
                assert shown and all(i["width"] > 0 for i in shown), content
                seen["img"] += 1
            name = re.sub(r"[^A-Za-z0-9]+", "_", f"report {category} {Path(row).stem}").strip("_")
            shots.append(chrome.screenshot(shots_dir / f"{name}.png"))
    # gesture: confusion + curves, pose: overlay, skeleton, per movement, curves; gesture and pose tables,
    # environment; gesture and pose CSV, config YAML
    assert seen["img"] >= 6 and seen["table"] >= 3 and seen["download"] >= 3 and seen.get("clip", 0) >= 3, seen

    # a caption is shown with its result: the info button of the gesture table
    _show_menu(chrome)
    chrome.evaluate(CLICK_MENU % json.dumps("Tables"))
    chrome.wait_for(RESULT_ROWS, what="the Tables list")
    assert chrome.evaluate(CLICK_VIEW % json.dumps("DVS128 Gesture")) == "view"
    assert "gesture_plif" in _iframe_page(chrome)["text"]
    chrome.evaluate("""(() => { const row = [...document.querySelectorAll('nav table tbody tr')]
        .find(r => r.querySelector('td').textContent.trim() === 'DVS128 Gesture');
        row.querySelectorAll('a[type=button]')[1].click(); })()""")
    chrome.wait_for("document.querySelector('nav').textContent.includes('accuracy-B')",
                    what="the caption of the gesture table")
    time.sleep(0.5)
    shots.append(chrome.screenshot(shots_dir / "report_Tables_DVS128_Gesture_caption.png"))

    for shot in shots:
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, shot
    _save_artifacts(shots)
