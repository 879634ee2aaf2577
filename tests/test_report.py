"""The coach report: escaping of untrusted texts, rank order, items to check, language chrome, the
file writer, and a real headless chromium reading a report made from the served champion's
recommendations on a 390 px phone screen."""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import threading
from collections.abc import Iterator
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from ilona_match.contract import load_data
from ilona_match.matching.reasons import CHECK_TEXT, Explanation
from ilona_match.pathways.tables import PathwayInputs
from ilona_match.serving.batch import RECOMMENDATION_COLUMNS
from ilona_match.serving.report import (
    CHROME,
    CONTENT_SECURITY_POLICY,
    render_coach_report,
    render_coach_reports,
    report_file_name,
    write_coach_reports,
)

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "h4", "dl", "dt", "dd",
                "div", "time", "main", "nav", "table", "caption", "thead", "tbody", "tr", "th", "td", "a", "section",
                "figure", "figcaption", "svg", "text", "rect", "line", "ol", "ul", "li", "article", "span", "p",
                "footer"}


class _Page(HTMLParser):
    """Tags and text of a page, as a browser's parser sees them."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _why(pid: str, vid: str, lang: str = "fi", checks: tuple[str, ...] = (), missing: tuple[str, ...] = ()) -> Explanation:
    reasons = (f"reason one for {vid}", f"reason two for {vid}")
    if missing:
        reasons += (f"missing line {', '.join(missing)}",)
    return Explanation(pid, vid, lang, reasons, ("lexical", "hours_margin"), ("skill a",), missing, checks,
                       tuple(CHECK_TEXT[c][lang] for c in checks), {})


def _rows(items: list[tuple[str, str, int, str, float]], run_id: str = "run-1") -> pd.DataFrame:
    frame = pd.DataFrame(items, columns=["participant_id", "coach_id", "rank", "vacancy_id", "score"])
    frame = frame.assign(run_id=run_id, as_of="2026-06-01", reasons="", to_check="", model_version="7",
                         p_outcome=float("nan"))
    return frame[list(RECOMMENDATION_COLUMNS)]


VACANCIES = pd.DataFrame({
    "vacancy_id": ["V1", "V2", "V3", "V4"],
    "employer_id": ["E1", ATTRIBUTE, "E3", "E4"],
    "title": [SCRIPT, "Siivooja", "Varastotyöntekijä", "Kokki"],
    "sector": ["cleaning", "cleaning", "logistics", "bakery_x"],
    "municipality": ["Tampere", None, "Vaasa", "Oulu"],
    "hours_per_week": [20.0, float("nan"), 17.5, 30.0],
    "remote": [False, pd.NA, True, False],
})


def _report(language: str = "fi", **changes: object) -> str:
    rows = _rows([("P2", "C1", 2, "V3", -0.4), ("P1", "C1", 1, "V1", 1.25), ("P1", "C1", 3, "V3", -0.5),
                  ("P1", "C1", 2, "V2", 0.3)]).assign(p_outcome=[0.05, 0.31, 0.04, 0.12])
    whys = [_why("P2", "V3", "sv"), _why("P1", "V1"), _why("P1", "V3"),
            _why("P1", "V2", checks=("hours_per_week", "night_shifts"), missing=("trukin ajo", "hygieniapassi"))]
    args = {"coach_id": "C1", "run_id": "run-1", "as_of": "2026-06-01", "model_version": "7", "rows": rows,
            "explanations": whys, "vacancies": VACANCIES, "language": language} | changes
    return render_coach_report(**args)


def test_untrusted_vacancy_texts_are_escaped_and_shown_literally() -> None:
    page = _report()
    parsed = _Page(page)
    assert set(parsed.tags) <= ALLOWED_TAGS, set(parsed.tags) - ALLOWED_TAGS
    assert "<script" not in page and "<img" not in page
    assert html.escape(SCRIPT) in page and html.escape(ATTRIBUTE).replace("&quot;", "&#34;") in page
    text = "".join(parsed.text)
    assert SCRIPT in text and ATTRIBUTE in text  # what the coach reads is the literal text


def test_page_has_a_strict_csp_whose_hash_admits_only_its_own_style() -> None:
    page = _report()
    metas = [attrs for tag, attrs in _Page(page).attrs if tag == "meta"]
    assert metas[1] == {"http-equiv": "Content-Security-Policy", "content": CONTENT_SECURITY_POLICY}  # before any style
    assert "script-src 'none'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    (style,) = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in CONTENT_SECURITY_POLICY
    assert " style=" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in metas


def test_every_recommendation_appears_in_rank_order_with_facts() -> None:
    page = _report()
    p1, p2 = page.index("Osallistuja P1</h2>"), page.index("Osallistuja P2</h2>")
    assert p1 < p2  # P1 has facts to check: before P2, who needs nothing
    first = page[p1:p2]
    positions = [first.index(title) for title in (html.escape(SCRIPT), "Siivooja", "Varastotyöntekijä")]
    assert positions == sorted(positions)
    assert re.findall(r'<span class="rank" title="Sija">(\d+)</span>', first) == ["1", "2", "3"]
    levels = re.findall(r'<dt>Mahdollisuus</dt><dd><span class="level (\w+)">([\w\u00ad]+)</span>', first)
    assert levels == [("good", "hyvä"), ("possible", "mahdol\u00adlinen"), ("long_shot", "pieni")]  # 0.31, 0.12, 0.04
    assert "1,25" not in page and "Pisteet" not in page and "0,31" not in page  # never a raw score or number
    assert "Tampere" in first and "17,5 h/vko" in first and "etätyö mahdollinen" in first and "siivous" in first
    assert "Varastotyöntekijä" in page[p2:] and "bakery x" not in page  # V4 is not recommended
    assert CHROME["fi"]["good_means"] in page  # each level's meaning, once, in the legend


def test_to_check_items_are_highlighted_in_the_coach_language() -> None:
    page = _report()
    (box,) = re.findall(r'<div class="check" role="note">(.*?)</div>', page, flags=re.S)
    assert "Tarkista ennen ehdottamista" in box
    assert CHECK_TEXT["hours_per_week"]["fi"] in box and CHECK_TEXT["night_shifts"]["fi"] in box
    assert '<td class="num has-check">1</td>' in page
    assert "trukin ajo, hygieniapassi" in page and "missing line" not in page  # missing skills once, as a list
    english = _report("en")
    assert "Check before proposing" in english and CHECK_TEXT["night_shifts"]["en"] in english


@pytest.mark.parametrize("language", ["fi", "sv", "en"])
def test_chrome_follows_the_language_and_reasons_keep_the_participants(language: str) -> None:
    page = _report(language)
    assert f'<html lang="{language}">' in page and f"<h1>{CHROME[language]['title']}</h1>" in page
    assert f"{CHROME[language]['participant']} P2" in page
    assert '<ul class="reasons" lang="sv">' in page and '<ul class="reasons" lang="fi">' in page
    others = {lang: CHROME[lang]["to_check"] for lang in CHROME if lang != language}
    assert not any(text in page for text in others.values())


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"language": "de"}, "report language must be one of fi, sv, en, got 'de'"),
        ({"explanations": []}, "4 recommendation rows but 0 explanations"),
        ({"coach_id": "C9"}, r"row 0: coach_id 'C1' in the report of coach 'C9'"),
        ({"vacancies": VACANCIES[VACANCIES.vacancy_id != "V2"]}, r"row 3: vacancy_id 'V2' is not in the vacancies table"),
        ({"vacancies": pd.concat([VACANCIES, VACANCIES.head(1)])}, "vacancies: duplicate vacancy_id 'V1'"),
        ({"vacancies": VACANCIES.drop(columns="title")}, "vacancies: missing column"),
        ({"rows": _rows([]).drop(columns="rank"), "explanations": []}, r"recommendations: missing column\(s\) rank"),
    ],
)
def test_bad_input_is_named(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _report(**changes)


def test_explanations_out_of_row_order_are_refused() -> None:
    rows = _rows([("P1", "C1", 1, "V1", 1.0), ("P1", "C1", 2, "V2", 0.5)])
    with pytest.raises(ValueError, match=r"row 0: \(P1, V1\) but its explanation is for \(P1, V2\)"):
        render_coach_report("C1", "run-1", "2026-06-01", "7", rows, [_why("P1", "V2"), _why("P1", "V1")], VACANCIES)


def test_reports_per_coach_and_one_run_at_a_time() -> None:
    rows = _rows([("P1", "C1", 1, "V1", 1.0), ("P7", "C2", 1, "V2", 0.5), ("P1", "C1", 2, "V3", 0.2)])
    whys = [_why("P1", "V1"), _why("P7", "V2"), _why("P1", "V3")]
    pages = render_coach_reports(rows, whys, VACANCIES, language="en")
    assert list(pages) == ["C1", "C2"]
    assert "Participant P1" in pages["C1"] and "P7" not in pages["C1"] and "Participant P7" in pages["C2"]
    assert pages["C1"].count('<ol class="recs">') == 1 and pages["C1"].count("<li>\n<article") == 2
    assert render_coach_reports(rows.head(0), [], VACANCIES) == {}
    everyone = pd.DataFrame({"participant_id": ["P1", "P7", "P8", "P9"], "coach_id": ["C1", "C2", "C2", "C3"],
                             "profile_text": ["never shown"] * 4})
    pages = render_coach_reports(rows, whys, VACANCIES, language="en", participants=everyone)
    assert list(pages) == ["C1", "C2", "C3"] and "never shown" not in "".join(pages.values())
    nothing = html.escape("No open vacancy fitted this participant's limits in this run.").replace("&#x27;", "&#39;")
    assert "Participant P8" in pages["C2"] and pages["C2"].count(nothing) == 1 and nothing in pages["C3"]
    mixed = pd.concat([rows.head(1), _rows([("P7", "C2", 1, "V2", 0.5)], run_id="run-2")], ignore_index=True)
    with pytest.raises(ValueError, match="recommendations hold 2 runs"):
        render_coach_reports(mixed, whys[:2], VACANCIES)


def test_the_page_leads_with_who_needs_the_coach() -> None:
    """Nobody fitted P0; P1's and P5's first suggestions have facts to check (P5 has two items to check,
    so comes first); P4 has one to check, below its first, so is not singled out; P2's list changed
    since the last run (V9 left, V3 came); P3's and P4's lists are as they were. The attention box
    comes first, then the people needing attention first."""
    rows = _rows([("P1", "C1", 1, "V1", 1.0), ("P2", "C1", 1, "V3", 0.5), ("P3", "C1", 1, "V2", 0.2),
                  ("P4", "C1", 1, "V1", 0.9), ("P4", "C1", 2, "V2", 0.8), ("P5", "C1", 1, "V2", 0.7),
                  ("P5", "C1", 2, "V3", 0.6)])
    rows = rows.assign(p_outcome=[0.4, 0.2, float("nan"), 0.3, 0.2, 0.3, 0.2])
    whys = [_why("P1", "V1", checks=("driving",)), _why("P2", "V3"), _why("P3", "V2"), _why("P4", "V1"),
            _why("P4", "V2", checks=("night_shifts",)), _why("P5", "V2", checks=("driving",)),
            _why("P5", "V3", checks=("night_shifts",))]
    previous = pd.DataFrame({"participant_id": ["P2", "P3", "P4", "P4", "P5", "P5"],
                             "vacancy_id": ["V9", "V2", "V1", "V2", "V2", "V3"]})
    page = render_coach_report("C1", "run-2", "2026-06-02", "7", rows, whys, VACANCIES, language="en",
                               participant_ids=["P0", "P1", "P2", "P3", "P4", "P5"], previous=previous)
    box = page[page.index('<section class="attention"'):page.index("</section>")]
    assert page.index('<section class="attention"') < page.index("<nav") < page.index('<section class="participant"')
    groups = re.findall(r"<h3>(.*?) \((\d)\)</h3>\s*<ul class=\"people\">(.*?)</ul>", box, flags=re.S)
    assert [(title, count, re.findall(r">(P\d)</a>", members)) for title, count, members in groups] == [
        ("No fitting open vacancy", "1", ["P0"]), ("First suggestion has facts to check", "2", ["P5", "P1"]),
        ("List changed since the last run", "2", ["P1", "P2"])]  # P1 had no list before: all of it is new
    assert re.findall(r'<span class="count" title="To check">(\d/\d)</span>', box) == ["2/2", "1/1"]
    order = re.findall(r'<h2 id="p\d-h">Participant (P\d)</h2>', page)
    assert order == ["P0", "P5", "P1", "P2", "P3", "P4"]
    p2 = page[page.index("Participant P2</h2>"):page.index("Participant P3</h2>")]
    assert '<span class="new">new</span>' in p2 and '<span class="new">' not in page[page.index("Participant P3</h2>"):]
    assert '<span class="level unknown">not estimated</span>' in page and CHROME["en"]["unknown_means"] in page
    first_run = render_coach_report("C1", "run-1", "2026-06-01", "7", rows, whys, VACANCIES, language="en",
                                    participant_ids=["P1", "P2", "P3"])
    assert "List changed" not in first_run and '<span class="new">' not in first_run  # nothing to compare with
    calm = render_coach_report("C1", "run-2", "2026-06-02", "7", rows.iloc[[2]], whys[2:3], VACANCIES, language="en",
                               previous=previous)  # P3 alone: nothing to check, the list as it was
    assert CHROME["en"]["attention_none"] in calm


def test_an_empty_report_says_so() -> None:
    page = render_coach_report("C1", "run-1", "2026-06-01", "7", _rows([]), [], VACANCIES, language="en")
    assert "No recommendations in this run." in page and "<nav" not in page


def test_reports_are_written_atomically_under_safe_names(tmp_path: Path) -> None:
    assert report_file_name("C00001") == "coach-C00001.html"
    odd = report_file_name("../../etc/pass wd")
    assert re.fullmatch(r"coach-______etc_pass_wd-[0-9a-f]{8}\.html", odd)
    assert report_file_name("a/b") != report_file_name("a_b")
    paths = write_coach_reports({"C00001": "<p>one</p>", "../../etc/pass wd": "<p>two</p>"}, tmp_path / "reports")
    assert [p.name for p in paths] == ["coach-C00001.html", odd]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted([odd, "coach-C00001.html"])  # no temp left
    assert paths[1].read_text(encoding="utf-8") == "<p>two</p>" and paths[1].parent == tmp_path / "reports"
    with pytest.raises(ValueError, match="coach ids 'C1' and 'c1' give the same report file name"):
        write_coach_reports({"C1": "x", "c1": "y"}, tmp_path / "other")
    with pytest.raises(ValueError, match="coach_id is empty"):
        report_file_name("")


# ------------------------------------------------------------------------------ a real browser
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PLANTED = ("<script>window.__planted = 1; document.body.dataset.planted = 'yes'; "
           "console.error('the planted script ran')</script>")


def _artifacts() -> Path:
    folder = Path(os.environ.get("ILONA_MATCH_ARTIFACTS") or Path(__file__).parent / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def served_report(served_world, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str, int, pd.DataFrame]:
    """The champion's real recommendations for the coach with the most participants, written as a
    page; one recommended vacancy's title carries a planted script, its employer an unbreakable id."""
    from ilona_match.learning.tracking import load_champion
    from ilona_match.serving.batch import run_batch

    bundle = load_data(served_world.data_dir)
    pipeline, version = load_champion(served_world.workdir)
    participants = bundle.participants.sort_values("participant_id")
    coach = participants["coach_id"].value_counts().index[0]
    people = participants[participants["coach_id"] == coach].head(4)  # a phone screenshot, not a book
    result = run_batch(pipeline, people, bundle.vacancies, served_world.as_of, k=5, model_version=version)
    frame, explanations = result.frame, result.explanations
    assert len(frame) >= 5 and ["|".join(e.reasons) for e in explanations] == frame["reasons"].tolist()
    planted_vacancy = frame["vacancy_id"].iloc[0]
    vacancies = bundle.vacancies.copy()
    target = vacancies["vacancy_id"] == planted_vacancy
    title = f"{vacancies.loc[target, 'title'].iloc[0]} {PLANTED}"
    vacancies.loc[target, "title"] = title
    vacancies.loc[target, "employer_id"] = "E" * 90  # no break opportunity: must still not scroll sideways
    routes = PathwayInputs(bundle.vacancies, bundle.outcomes, bundle.services, bundle.service_outcomes,
                           served_world.as_of, pipeline.taxonomy).plan(people)
    assert len(routes), "the served world's people should have routes to work"
    # last night's lists lacked each list's last item: the page shows every column a nightly page has
    previous = frame.groupby("participant_id").head(-1)[["participant_id", "vacancy_id"]]
    pages = render_coach_reports(frame, explanations, vacancies, participants=people, pathways=routes,
                                 services=bundle.services, previous=previous)
    (path,) = write_coach_reports(pages, tmp_path_factory.mktemp("reports"))
    return path, title, coach, len(frame), routes


@pytest.fixture(scope="module")
def loopback(served_report: tuple[Path, str, str, int, pd.DataFrame]) -> Iterator[str]:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(served_report[0].parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
def test_a_phone_browser_shows_the_report_safely(served_report, loopback, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright  # the browser is Debian's: never `playwright install`

    path, title, coach, rows, routes = served_report
    url = loopback + path.name
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True,
        )
        try:
            page = context.new_page()
            console, errors, requests = [], [], []
            page.on("console", lambda message: console.append((message.type, message.text)))
            page.on("pageerror", lambda error: errors.append(str(error)))
            context.on("request", lambda request: requests.append(request.url))
            assert page.goto(url).ok
            page.wait_for_load_state("load")
            assert [m for m in console if m[0] in ("error", "warning")] == [] and errors == []
            assert page.evaluate("() => window.__planted") is None
            assert page.evaluate("() => document.body.dataset.planted") is None
            assert page.locator("script").count() == 0 and page.locator("img").count() == 0
            headings = page.locator("h3").all_text_contents()
            assert any(text.endswith(title) for text in headings), "the planted title is not shown literally"
            assert page.title().startswith(f"Työpaikkasuositukset · Valmentaja {coach}")
            width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert width == [390, 390], f"horizontal overflow at 390 px: {width}"
            assert page.locator("section.participant").count() == 4  # with or without a feasible vacancy
            first = page.locator("main > section").first  # the page leads with who needs attention
            assert first.get_attribute("class") == "attention" and first.is_visible()
            assert first.bounding_box()["y"] < page.locator("nav").bounding_box()["y"]
            levels = page.locator("ol.recs .level").all_text_contents()
            levels = [level.replace("\u00ad", "") for level in levels]  # "mahdol-linen" may break at its soft hyphen
            assert len(levels) == rows and set(levels) <= {"hyvä", "mahdollinen", "pieni", "ei arvioitu"}
            assert page.locator("nav thead th").count() == 6  # participant, items, best chance, to check, routes, new
            heights = page.evaluate("() => [...document.querySelectorAll('ol.recs .level, dl .level')].map(e => e.offsetHeight)")
            assert max(heights) < 1.5 * min(heights), f"a level wraps onto two lines at 390 px: {sorted(set(heights))}"
            assert "Pisteet" not in page.locator("body").inner_text()
            assert page.locator("ol.recs > li").count() == rows
            assert all(u == url for u in requests), f"the page loaded something else: {requests}"
            # each person's routes to work: target, steps, estimated gain in points, never a score
            assert page.locator("ol.routes > li").count() == len(routes)
            gains = page.locator("ol.routes .gain").all_text_contents()
            assert all(g.startswith("Arvioitu lisä mahdollisuuteen saada työ: +") for g in gains)
            first_route = page.locator("ol.routes > li").first
            assert first_route.is_visible() and first_route.locator("ol.steps > li").count() >= 1
            for pid in routes["participant_id"].unique():
                section = page.locator("section.participant", has=page.locator(f"h2:text-is('Osallistuja {pid}')"))
                assert section.locator("ol.routes > li").count() == int((routes["participant_id"] == pid).sum())
            page.screenshot(path=str(_artifacts() / "coach-report-390.png"), full_page=True)
            page.emulate_media(media="print")  # paper: white page, no recommendation split over pages
            assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
            assert page.evaluate("() => getComputedStyle(document.querySelector('ol.recs > li')).breakInside") == "avoid"
            page.pdf(path=str(_artifacts() / "coach-report.pdf"), format="A4")
        finally:
            context.close()
    assert (_artifacts() / "coach-report-390.png").stat().st_size > 10_000
