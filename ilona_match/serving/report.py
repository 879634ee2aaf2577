"""The coach report: one static HTML page per coach per run, made to be read on a phone or on paper.

It leads with who needs the coach's attention: people no open vacancy fitted, people whose first
suggestion has facts to check before it is proposed (most items to check first; nearly everyone has
one such item somewhere in a list of ten, so the whole list would not single anyone out), and
people whose list changed since the last published run. Then,
for each of the coach's participants (the pseudonymous id only, never profile text), those needing
attention first, the ranked vacancies with title, employer, municipality and the calibrated chance
of a good outcome as a plain level with its meaning (good / possible / long shot; never a raw
score), what is new since the last run, the reasons in the participant's own language, the skills
the job asks for that the person lacks, and the facts to check before proposing the job,
highlighted. Page chrome is in Finnish, Swedish or English.

The page is self-contained and works offline: no script at all, no external asset, and a strict
Content-Security-Policy (scripts, images, fonts, connections all 'none'; the one inline style block
is allowed by its hash). Vacancy and participant texts are untrusted: the page is rendered with
Jinja2 with ``autoescape=True``, so every value is HTML-escaped. Rendering is pure;
``write_coach_reports`` is the one function that touches files.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from ilona_match.contract import SECTOR_NAMES
from ilona_match.matching.calibration import LEVELS, level_of
from ilona_match.matching.reasons import CHECK_TEXT, Explanation

__all__ = ["CHROME", "CONTENT_SECURITY_POLICY", "render_coach_report", "render_coach_reports",
           "report_file_name", "write_coach_reports"]

CHROME: dict[str, dict[str, str]] = {
    "fi": {
        "routes": "Reitit työhön", "routes_count": "Reit\u00adtejä", "target": "Tavoiteammatti", "steps": "Askeleet",
        "leads_to": "Avoimet paikat, joihin reitti johtaa", "gap": "Hankittava osaaminen",
        "gain": "Arvioitu lisä mahdollisuuteen saada työ", "gain_unit": "prosenttiyksikköä", "weeks": "vko",
        "starts": "alkaa", "group_routes": "Ei sopivaa työpaikkaa – reitti ehdotettu",
        "kind_course": "koulutus", "kind_apprenticeship": "oppisopimus", "kind_work_trial": "työkokeilu",
        "kind_supported_employment": "tuettu työ", "kind_rehabilitation": "kuntoutus", "kind_coaching": "valmennus",
        "title": "Työpaikkasuositukset", "coach": "Valmentaja", "as_of": "Tilanne", "model": "Malli", "run": "Ajo",
        "summary": "Yhteenveto: osallistujat, suositukset ja tarkistettavat", "participant": "Osallistuja",
        "recommendations": "Suosi\u00adtuksia", "checks": "Tarkis\u00adtettavaa", "new_count": "Uusia", "best": "Paras mahdol\u00adlisuus",
        "rank": "Sija", "employer": "Työnantaja",
        "municipality": "Kunta", "sector": "Ala", "hours": "Työaika", "hours_unit": "h/vko", "remote": "etätyö mahdollinen",
        "chance": "Mahdollisuus", "vacancy": "Ilmoitus", "reasons": "Miksi sopii", "missing": "Puuttuvat taidot",
        "to_check": "Tarkista ennen ehdottamista", "none": "Ei suosituksia tässä ajossa.",
        "no_match": "Yksikään avoin työpaikka ei sopinut osallistujan rajoituksiin tässä ajossa.",
        "attention": "Huomiota tarvitsevat", "attention_none": "Kukaan ei tarvitse erityistä huomiota tässä ajossa.",
        "group_no_match": "Ei sopivaa avointa työpaikkaa", "group_checks": "Ensimmäisessä ehdotuksessa tarkistettavaa",
        "group_changed": "Lista muuttui edellisestä ajosta", "new": "uusi",
        "legend": "Mitä mahdollisuus tarkoittaa", "good": "hyvä", "possible": "mahdol\u00adlinen", "long_shot": "pieni",
        "unknown": "ei arvioitu",
        "good_means": "noin joka neljäs tai useampi tällainen ehdotus johti haastatteluun, työkokeiluun tai työhön",
        "possible_means": "noin joka kymmenes – joka neljäs", "long_shot_means": "harvempi kuin joka kymmenes",
        "unknown_means": "mallia ei ole kalibroitu toteutuneilla tuloksilla",
        "note": "Mahdollisuus on arvio aiemmista tuloksista; valmentaja ja osallistuja päättävät. Perustelut ovat "
                "osallistujan kielellä. Osallistujat näkyvät vain tunnisteella.",
    },
    "sv": {
        "routes": "Vägar till arbete", "routes_count": "Vägar", "target": "Målyrke", "steps": "Steg",
        "leads_to": "Lediga jobb som vägen leder till", "gap": "Kompetens att skaffa",
        "gain": "Uppskattad ökning av chansen till jobb", "gain_unit": "procentenheter", "weeks": "v",
        "starts": "börjar", "group_routes": "Inget passande jobb – väg föreslagen",
        "kind_course": "utbildning", "kind_apprenticeship": "läroavtal", "kind_work_trial": "arbetsprövning",
        "kind_supported_employment": "stött arbete", "kind_rehabilitation": "rehabilitering", "kind_coaching": "coachning",
        "title": "Jobbrekommendationer", "coach": "Coach", "as_of": "Läge per", "model": "Modell", "run": "Körning",
        "summary": "Sammanfattning: deltagare, rekommendationer och att kontrollera", "participant": "Deltagare",
        "recommendations": "Rekommen\u00addationer", "checks": "Att kontrol\u00adlera", "new_count": "Nya", "best": "Bästa chans",
        "rank": "Plats", "employer": "Arbetsgivare",
        "municipality": "Kommun", "sector": "Bransch", "hours": "Arbetstid", "hours_unit": "h/v",
        "remote": "distansarbete möjligt", "chance": "Chans", "vacancy": "Annons", "reasons": "Varför det passar",
        "missing": "Färdigheter som saknas", "to_check": "Kontrollera innan du föreslår",
        "none": "Inga rekommendationer i denna körning.",
        "no_match": "Inget öppet jobb passade deltagarens begränsningar i denna körning.",
        "attention": "Behöver uppmärksamhet", "attention_none": "Ingen behöver särskild uppmärksamhet i denna körning.",
        "group_no_match": "Inget passande öppet jobb", "group_checks": "Första förslaget har uppgifter att kontrollera",
        "group_changed": "Listan ändrades sedan förra körningen", "new": "ny",
        "legend": "Vad chansen betyder", "good": "god", "possible": "möjlig", "long_shot": "liten",
        "unknown": "inte uppskattad",
        "good_means": "ungefär vart fjärde eller fler sådana förslag ledde till intervju, arbetsprövning eller jobb",
        "possible_means": "ungefär vart tionde till vart fjärde", "long_shot_means": "färre än vart tionde",
        "unknown_means": "modellen är inte kalibrerad mot verkliga utfall",
        "note": "Chansen är en uppskattning från tidigare utfall; coachen och deltagaren beslutar. Motiveringarna är "
                "på deltagarens språk. Deltagarna visas bara med sin kod.",
    },
    "en": {
        "routes": "Routes to work", "routes_count": "Routes", "target": "Target occupation", "steps": "Steps",
        "leads_to": "Open jobs the route leads to", "gap": "Skills to gain",
        "gain": "Estimated gain in the chance of a job", "gain_unit": "percentage points", "weeks": "wk",
        "starts": "starts", "group_routes": "No fitting job – a route proposed",
        "kind_course": "course", "kind_apprenticeship": "apprenticeship", "kind_work_trial": "work trial",
        "kind_supported_employment": "supported employment", "kind_rehabilitation": "rehabilitation",
        "kind_coaching": "coaching",
        "title": "Job recommendations", "coach": "Coach", "as_of": "As of", "model": "Model", "run": "Run",
        "summary": "Summary: participants, recommendations and items to check", "participant": "Participant",
        "recommendations": "Recommen\u00addations", "checks": "To check", "new_count": "New", "best": "Best chance",
        "rank": "Rank", "employer": "Employer",
        "municipality": "Municipality", "sector": "Sector", "hours": "Hours", "hours_unit": "h/week",
        "remote": "remote work possible", "chance": "Chance", "vacancy": "Ad", "reasons": "Why it fits",
        "missing": "Missing skills", "to_check": "Check before proposing", "none": "No recommendations in this run.",
        "no_match": "No open vacancy fitted this participant's limits in this run.",
        "attention": "Needs your attention", "attention_none": "Nobody needs special attention in this run.",
        "group_no_match": "No fitting open vacancy", "group_checks": "First suggestion has facts to check",
        "group_changed": "List changed since the last run", "new": "new",
        "legend": "What the chance means", "good": "good", "possible": "possible", "long_shot": "long shot",
        "unknown": "not estimated",
        "good_means": "about 1 in 4 or more such proposals led to an interview, a work trial or a job",
        "possible_means": "about 1 in 10 to 1 in 4", "long_shot_means": "fewer than 1 in 10",
        "unknown_means": "the model is not calibrated on real outcomes",
        "note": "The chance is an estimate from past outcomes; the coach and the participant decide. Reasons are in "
                "the participant's language. Participants are shown by their code only.",
    },
}
_LANGUAGES = ("fi", "sv", "en")

_CSS = """\
:root{--ink:#1b1f24;--muted:#4b5563;--line:#d5dae1;--paper:#fff;--bg:#f3f5f7;--accent:#0b5cad;\
--check-bg:#fff4d1;--check-ink:#4d3300;--check-line:#b35c00}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);overflow-wrap:anywhere;
font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans","DejaVu Sans",sans-serif}
header,main,footer{max-width:48rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;line-height:1.2;margin:0 0 .5rem}
h2{font-size:1.25rem;margin:0 0 .75rem}
h3{font-size:1.05rem;line-height:1.3;margin:0 0 .35rem}
h4{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:.6rem 0 .15rem}
a{color:var(--accent)}
.meta{display:flex;flex-wrap:wrap;gap:.1rem 1.25rem;margin:0}
.meta div{display:flex;gap:.35rem}
.meta dt{color:var(--muted)}
.meta dd{margin:0;font-weight:600}
table{width:100%;border-collapse:collapse;background:var(--paper);margin:.5rem 0}
caption{text-align:left;font-weight:600;padding:.25rem 0 .5rem}
th,td{padding:.45rem .5rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:.85rem;color:var(--muted);font-weight:600}
nav th,nav td{padding:.45rem .2rem}
nav thead th{font-size:.75rem;overflow-wrap:normal;hyphens:manual}
nav .level{display:inline;font-size:.85rem;padding:0 .3rem;white-space:normal;overflow-wrap:normal;hyphens:manual;
-webkit-box-decoration-break:clone;box-decoration-break:clone}
nav th[scope=row]{white-space:nowrap;font-size:.85rem}
.num{text-align:right;font-variant-numeric:tabular-nums}
.has-check{color:var(--check-ink);font-weight:700}
section.attention{background:var(--paper);border:1px solid var(--check-line);border-left-width:.35rem;
border-radius:.5rem;padding:.75rem 1rem;margin:0 0 1rem}
section.attention h3{margin:.5rem 0 .2rem}
ul.people{margin:0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:.25rem .75rem}
ul.people .count{color:var(--check-ink);font-weight:700;font-variant-numeric:tabular-nums}
.level{display:inline-block;padding:0 .45rem;border-radius:.25rem;font-weight:600;border:1px solid;white-space:nowrap}
.level.good{background:#e3f4e8;color:#0e5a2b;border-color:#2f8a4f}
.level.possible{background:#e6eefb;color:#0b3f7a;border-color:#4a78b8}
.level.long_shot,.level.unknown{background:var(--bg);color:var(--muted);border-color:var(--line)}
.new{display:inline-block;margin-left:.4rem;padding:0 .35rem;border-radius:.25rem;background:var(--accent);color:#fff;
font-size:.8rem;vertical-align:middle}
dl.legend{margin:.25rem 0 0;font-size:.9rem}
dl.legend div{display:flex;gap:.5rem;align-items:baseline;margin:.15rem 0}
dl.legend dt{flex:none}
dl.legend dd{margin:0}
section.participant{background:var(--paper);border:1px solid var(--line);border-radius:.5rem;padding:1rem;margin:0 0 1rem}
ol.recs{list-style:none;margin:0;padding:0}
ol.recs>li{border-top:1px solid var(--line);padding:.85rem 0}
.rank{display:inline-block;min-width:1.75rem;padding:0 .35rem;margin-right:.35rem;border-radius:1rem;
background:var(--accent);color:#fff;text-align:center;font-size:.9rem}
.facts{display:flex;flex-wrap:wrap;gap:0 1rem;margin:0;font-size:.95rem}
.facts div{display:flex;gap:.3rem;min-width:0}
.facts dt{color:var(--muted);flex:none}
.facts dd{margin:0;min-width:0}
ul.reasons{margin:0;padding-left:1.2rem}
.missing{margin:0}
.no-match{margin:0;padding:.5rem .75rem;background:var(--bg);border-radius:.25rem}
.check{margin:.6rem 0 0;padding:.5rem .75rem;background:var(--check-bg);color:var(--check-ink);
border:1px solid var(--check-line);border-left-width:.35rem;border-radius:.25rem}
.check h4{color:var(--check-ink);margin:0}
.check ul{margin:.1rem 0 0;padding-left:1.2rem}
section.routes{margin:.75rem 0 0}
ol.routes{list-style:none;margin:0;padding:0}
ol.routes>li{border-top:1px dashed var(--line);padding:.75rem 0}
ol.steps{margin:.1rem 0 0;padding-left:1.4rem}
.gain{font-weight:600}
footer{color:var(--muted);font-size:.85rem}
@media (min-width:40rem){header,main,footer{padding:1.25rem 1.5rem}}
@media print{
@page{margin:12mm}
html{font-size:10.5pt}
body{background:#fff}
header,main,footer{max-width:none;padding:0 0 .5rem}
a{color:inherit;text-decoration:none}
section.participant{border:0;border-top:2px solid var(--ink);border-radius:0;padding:.5rem 0}
h2,h3{break-after:avoid}
ol.recs>li,ol.routes>li{break-inside:avoid}
.check,.rank,.level,.new{print-color-adjust:exact;-webkit-print-color-adjust:exact}
}
"""
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)

_TEMPLATE = """\
<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<meta name="color-scheme" content="light">
<title>{{ t.title }} · {{ t.coach }} {{ coach_id }} · {{ as_of }}</title>
<style>{{ css }}</style>
</head>
<body>
<header>
<h1>{{ t.title }}</h1>
<dl class="meta">
<div><dt>{{ t.coach }}</dt><dd>{{ coach_id }}</dd></div>
<div><dt>{{ t.as_of }}</dt><dd><time datetime="{{ as_of }}">{{ as_of }}</time></dd></div>
<div><dt>{{ t.model }}</dt><dd>{{ model_version }}</dd></div>
<div><dt>{{ t.run }}</dt><dd>{{ run_id }}</dd></div>
</dl>
</header>
<main>
{% if people %}
<section class="attention" aria-labelledby="attention-h">
<h2 id="attention-h">{{ t.attention }}</h2>
{% for group in attention %}
<h3>{{ group.title }} ({{ group.people|length }})</h3>
<ul class="people">
{% for p in group.people %}<li><a href="#{{ p.anchor }}">{{ p.participant_id }}</a>\
{% if group.counts %} <span class="count" title="{{ t.checks }}">{{ p.checks }}/{{ p.recs|length }}</span>{% endif %}</li>
{% endfor %}
</ul>
{% else %}
<p>{{ t.attention_none }}</p>
{% endfor %}
</section>
<nav aria-label="{{ t.summary }}">
<table>
<caption>{{ t.summary }}</caption>
<thead><tr><th scope="col">{{ t.participant }}</th><th scope="col" class="num">{{ t.recommendations }}</th>\
<th scope="col">{{ t.best }}</th><th scope="col" class="num">{{ t.checks }}</th>\
{% if with_routes %}<th scope="col" class="num">{{ t.routes_count }}</th>{% endif %}\
{% if changes %}<th scope="col" class="num">{{ t.new_count }}</th>{% endif %}</tr></thead>
<tbody>
{% for p in people %}
<tr><th scope="row"><a href="#{{ p.anchor }}">{{ p.participant_id }}</a></th><td class="num{% if not p.recs %} has-check{% endif %}">{{ p.recs|length }}</td>\
<td>{% if p.recs %}<span class="level {{ p.best }}">{{ t[p.best] }}</span>{% else %}–{% endif %}</td>\
<td class="num{% if p.checks %} has-check{% endif %}">{{ p.checks }}</td>\
{% if with_routes %}<td class="num">{{ p.routes|length }}</td>{% endif %}\
{% if changes %}<td class="num">{{ p.new }}</td>{% endif %}</tr>
{% endfor %}
</tbody>
</table>
</nav>
<dl class="legend" aria-label="{{ t.legend }}">
{% for level in levels %}<div><dt><span class="level {{ level }}">{{ t[level] }}</span></dt><dd>{{ t[level ~ "_means"] }}</dd></div>
{% endfor %}
</dl>
{% else %}
<p>{{ t.none }}</p>
{% endif %}
{% for p in people %}
<section class="participant" id="{{ p.anchor }}" aria-labelledby="{{ p.anchor }}-h">
<h2 id="{{ p.anchor }}-h">{{ t.participant }} {{ p.participant_id }}</h2>
{% if not p.recs %}
<p class="no-match">{{ t.no_match }}</p>
{% else %}
<ol class="recs">
{% for r in p.recs %}
<li>
<article aria-labelledby="{{ p.anchor }}-r{{ r.rank }}">
<h3 id="{{ p.anchor }}-r{{ r.rank }}"><span class="rank" title="{{ t.rank }}">{{ r.rank }}</span><span lang="{{ r.lang }}">{{ r.title }}</span>\
{% if r.new %}<span class="new">{{ t.new }}</span>{% endif %}</h3>
<dl class="facts">
<div><dt>{{ t.employer }}</dt><dd>{{ r.employer }}</dd></div>
{% if r.municipality or r.remote %}<div><dt>{{ t.municipality }}</dt><dd>{{ r.municipality or "–" }}\
{% if r.remote %} ({{ t.remote }}){% endif %}</dd></div>
{% endif %}
{% if r.sector %}<div><dt>{{ t.sector }}</dt><dd>{{ r.sector }}</dd></div>
{% endif %}
{% if r.hours %}<div><dt>{{ t.hours }}</dt><dd>{{ r.hours }} {{ t.hours_unit }}</dd></div>
{% endif %}
<div><dt>{{ t.chance }}</dt><dd><span class="level {{ r.level }}">{{ t[r.level] }}</span></dd></div>
<div><dt>{{ t.vacancy }}</dt><dd>{{ r.vacancy_id }}</dd></div>
</dl>
{% if r.checks %}
<div class="check" role="note">
<h4>{{ t.to_check }}</h4>
<ul>
{% for item in r.checks %}<li>{{ item }}</li>
{% endfor %}
</ul>
</div>
{% endif %}
{% if r.reasons %}
<h4>{{ t.reasons }}</h4>
<ul class="reasons" lang="{{ r.reasons_lang }}">
{% for reason in r.reasons %}<li>{{ reason }}</li>
{% endfor %}
</ul>
{% endif %}
{% if r.missing %}
<h4>{{ t.missing }}</h4>
<p class="missing" lang="{{ r.reasons_lang }}">{{ r.missing|join(", ") }}</p>
{% endif %}
</article>
</li>
{% endfor %}
</ol>
{% endif %}
{% if p.routes %}
<section class="routes" aria-labelledby="{{ p.anchor }}-routes">
<h3 id="{{ p.anchor }}-routes">{{ t.routes }}</h3>
<ol class="routes">
{% for route in p.routes %}
<li>
<article aria-labelledby="{{ p.anchor }}-w{{ route.rank }}">
<h4 id="{{ p.anchor }}-w{{ route.rank }}"><span class="rank">{{ route.rank }}</span>{{ t.target }}: \
<span lang="{{ route.lang }}">{{ route.target }}</span></h4>
<p class="gain">{{ t.gain }}: +{{ route.gain }} {{ t.gain_unit }}</p>
<h4>{{ t.steps }}</h4>
<ol class="steps">
{% for step in route.steps %}<li><span lang="{{ step.lang }}">{{ step.title }}</span> ({{ step.kind }}{% if step.starts %}, \
{{ t.starts }} <time datetime="{{ step.starts }}">{{ step.starts }}</time>{% endif %}{% if step.weeks %}, {{ step.weeks }} {{ t.weeks }}{% endif %})</li>
{% endfor %}
</ol>
{% if route.checks %}
<div class="check" role="note">
<h4>{{ t.to_check }}</h4>
<ul>
{% for item in route.checks %}<li>{{ item }}</li>
{% endfor %}
</ul>
</div>
{% endif %}
{% if route.reasons %}
<h4>{{ t.reasons }}</h4>
<ul class="reasons" lang="{{ route.lang }}">
{% for reason in route.reasons %}<li>{{ reason }}</li>
{% endfor %}
</ul>
{% endif %}
{% if route.gap %}
<h4>{{ t.gap }}</h4>
<p class="missing" lang="{{ route.lang }}">{{ route.gap|join(", ") }}</p>
{% endif %}
{% if route.leads_to %}
<h4>{{ t.leads_to }}</h4>
<ul class="reasons">
{% for job in route.leads_to %}<li><span lang="{{ job.lang }}">{{ job.title }}</span> ({{ job.vacancy_id }})</li>
{% endfor %}
</ul>
{% endif %}
</article>
</li>
{% endfor %}
</ol>
</section>
{% endif %}
</section>
{% endfor %}
</main>
<footer><p>{{ t.note }}</p></footer>
</body>
</html>
"""
_ENVIRONMENT = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                                  lstrip_blocks=True, keep_trailing_newline=True)
_PAGE = _ENVIRONMENT.from_string(_TEMPLATE)


def _text(value: object) -> str:
    """A table cell as display text: missing values become empty."""
    return "" if value is None or value is pd.NA or (isinstance(value, float) and value != value) else str(value)


def _number(value: float, language: str, digits: int) -> str:
    text = f"{value:.{digits}f}".replace("-", "\u2212")
    return text.replace(".", ",") if language in ("fi", "sv") else text


def _chrome(language: str) -> dict[str, str]:
    if language not in CHROME:
        raise ValueError(f"report language must be one of {', '.join(_LANGUAGES)}, got {language!r}")
    return CHROME[language]


def _vacancy_lookup(vacancies: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("vacancy_id", "title", "employer_id") if c not in vacancies.columns]
    if missing:
        raise ValueError(f"vacancies: missing column(s) {', '.join(missing)}")
    table = vacancies.set_index("vacancy_id", drop=False)
    if not table.index.is_unique:
        raise ValueError(f"vacancies: duplicate vacancy_id {table.index[table.index.duplicated()][0]!r}")
    return table


def _checked_rows(rows: pd.DataFrame, explanations: Sequence[Explanation]) -> None:
    missing = [c for c in ("participant_id", "coach_id", "rank", "vacancy_id", "score") if c not in rows.columns]
    if missing:
        raise ValueError(f"recommendations: missing column(s) {', '.join(missing)}")
    if len(explanations) != len(rows):
        raise ValueError(f"{len(rows)} recommendation rows but {len(explanations)} explanations: "
                         "pass one Explanation per row, in row order")
    for i, (pid, vid, why) in enumerate(zip(rows["participant_id"], rows["vacancy_id"], explanations)):
        if (pid, vid) != (why.participant_id, why.vacancy_id):
            raise ValueError(f"recommendations row {i}: ({pid}, {vid}) but its explanation is for "
                             f"({why.participant_id}, {why.vacancy_id}): explanations must follow the row order")


def _level(chance: float) -> str:
    level = level_of(chance)
    return "unknown" if level is None else level


def render_coach_report(
    coach_id: str,
    run_id: str,
    as_of: date | str,
    model_version: str,
    rows: pd.DataFrame,
    explanations: Sequence[Explanation],
    vacancies: pd.DataFrame,
    *,
    language: str = "fi",
    participant_ids: Iterable[str] = (),
    previous: pd.DataFrame | None = None,
    pathways: pd.DataFrame | None = None,
    services: pd.DataFrame | None = None,
    participant_languages: Mapping[str, str] | None = None,
) -> str:
    """One coach's page: ``rows`` in the recommendations form (this coach's rows; ``p_outcome`` gives
    each row's level, unknown without it), one Explanation per row in the same order, and the
    vacancies table the run ranked. Chrome in ``language`` (fi/sv/en). ``participant_ids``: the
    coach's participants, so that those without any feasible vacancy are listed too (the coach must
    know that nothing fitted). ``previous`` (participant_id, vacancy_id): the last published run's
    lists, to mark what is new and whose list changed (None: no earlier run to compare with).
    ``pathways`` (the run's pathways table, this coach's rows) and ``services`` (the services table):
    each person's routes to work, shown after their list — the whole answer for someone no vacancy
    fitted. ``participant_languages``: the language of each person's reasons, for the labels."""
    chrome = _chrome(language)
    _checked_rows(rows, explanations)
    lookup = _vacancy_lookup(vacancies)
    chances = rows["p_outcome"] if "p_outcome" in rows.columns else pd.Series(float("nan"), index=rows.index)
    before: dict[str, set[str]] = {}
    if previous is not None:
        for pid, vid in zip(previous["participant_id"].astype(str), previous["vacancy_id"].astype(str)):
            before.setdefault(pid, set()).add(vid)
    people: dict[str, list[tuple[int, float, Explanation, pd.Series]]] = {str(pid): [] for pid in participant_ids}
    for i, (pid, coach, rank, vid, chance, why) in enumerate(zip(
            rows["participant_id"], rows["coach_id"], rows["rank"], rows["vacancy_id"], chances, explanations)):
        if coach != coach_id:
            raise ValueError(f"recommendations row {i}: coach_id {coach!r} in the report of coach {coach_id!r}")
        if vid not in lookup.index:
            raise ValueError(f"recommendations row {i}: vacancy_id {vid!r} is not in the vacancies table")
        people.setdefault(str(pid), []).append((int(rank), float(chance), why, lookup.loc[vid]))
    steps_table = (services if services is not None else pd.DataFrame(columns=["service_id"])).set_index("service_id")
    routes_of: dict[str, pd.DataFrame] = {}
    if pathways is not None and len(pathways):
        routes_of = {str(pid): group.sort_values("rank") for pid, group in pathways.groupby("participant_id")}
        for pid in routes_of:
            people.setdefault(pid, [])
    views = []
    for number, pid in enumerate(sorted(people), start=1):
        ranked = sorted(people[pid], key=lambda item: item[0])
        known = before.get(pid, set())
        recs = []
        for rank, chance, why, job in ranked:
            hours = job.get("hours_per_week")
            sector = _text(job.get("sector"))
            vacancy_id = _text(job["vacancy_id"])
            recs.append({
                "rank": rank, "vacancy_id": vacancy_id, "title": _text(job["title"]),
                "lang": _text(job.get("language")) if _text(job.get("language")) in _LANGUAGES else language,
                "employer": _text(job["employer_id"]), "municipality": _text(job.get("municipality")),
                "remote": _text(job.get("remote")).lower() == "true",
                "sector": SECTOR_NAMES[sector][_LANGUAGES.index(language)] if sector in SECTOR_NAMES
                else sector.replace("_", " "),
                "hours": _number(float(hours), language, 0 if float(hours).is_integer() else 1) if _text(hours) else "",
                "level": _level(chance), "new": previous is not None and vacancy_id not in known,
                # reasons from features come first; a "missing skills" reason after them is shown as its own list
                "reasons": why.reasons[: len(why.reason_features)], "reasons_lang": why.language,
                "missing": why.missing_skills,
                "checks": [CHECK_TEXT[c][language] if c in CHECK_TEXT else c for c in why.to_check],
            })
        best = max((chance for _, chance, _, _ in ranked), default=float("nan"))
        new = sum(r["new"] for r in recs)
        changed = previous is not None and (new > 0 or len(known) > len(recs) - new)
        routes = _route_views(routes_of.get(pid), steps_table, lookup, language,
                              (participant_languages or {}).get(pid, language))
        views.append({"anchor": f"p{number}", "participant_id": pid, "recs": recs, "best": _level(best),
                      "checks": sum(bool(r["checks"]) for r in recs), "first_check": bool(recs and recs[0]["checks"]),
                      "new": new, "changed": changed,
                      "routes": routes})
    # those who need the coach first: nothing fitted, a first suggestion to check (most items to check
    # first), a changed list; then everyone else
    views.sort(key=lambda v: (bool(v["recs"]), not v["first_check"], -v["checks"] if v["first_check"] else 0,
                              not v["changed"], v["participant_id"]))
    groups = [("group_no_match", [v for v in views if not v["recs"] and not v["routes"]]),
              ("group_routes", [v for v in views if not v["recs"] and v["routes"]]),
              ("group_checks", [v for v in views if v["first_check"]]),
              ("group_changed", [v for v in views if v["changed"]])]
    attention = [{"title": chrome[key], "people": members, "counts": key == "group_checks"}  # with each one's count
                 for key, members in groups if members]
    used = {v["best"] for v in views if v["recs"]} | {r["level"] for v in views for r in v["recs"]}
    levels = [name for name, _ in LEVELS] + (["unknown"] if "unknown" in used else [])
    return _PAGE.render(lang=language, t=chrome, csp=CONTENT_SECURITY_POLICY, css=Markup(_CSS), coach_id=str(coach_id),
                        run_id=str(run_id), as_of=str(as_of), model_version=str(model_version), people=views,
                        attention=attention, changes=previous is not None,
                        with_routes=any(v["routes"] for v in views),
                        levels=levels)


def _route_views(routes: pd.DataFrame | None, steps_table: pd.DataFrame, vacancies: pd.DataFrame,
                 page_language: str, lang: str) -> list[dict]:
    """One person's pathway rows as what the page shows: the target and gap in the person's language,
    each step's title, kind, start and length, the open jobs by title, the estimated gain in points.
    ``steps_table``: the services table indexed by service_id."""
    if routes is None or routes.empty:
        return []
    from ilona_match.text.taxonomy import Taxonomy

    chrome = CHROME[page_language]
    taxonomy = Taxonomy.load()
    lang = lang if lang in _LANGUAGES else "fi"
    views = []
    for route in routes.itertuples():
        steps = []
        for service_id in route.steps:
            if service_id not in steps_table.index:
                raise ValueError(f"pathways: step {service_id!r} is not in the services table")
            step = steps_table.loc[service_id]
            weeks = step.get("duration_weeks")
            starts = step.get("starts_at")
            steps.append({"title": _text(step.get("title")) or service_id,
                          "lang": _text(step.get("language")) if _text(step.get("language")) in _LANGUAGES else lang,
                          "kind": chrome["kind_" + str(step["kind"])],
                          "starts": "" if starts is None or pd.isna(starts) else pd.Timestamp(starts).date().isoformat(),
                          "weeks": _text(weeks) and f"{float(weeks):g}"})
        jobs = [{"vacancy_id": vid, "title": _text(vacancies.loc[vid, "title"]) if vid in vacancies.index else vid,
                 "lang": _text(vacancies.loc[vid].get("language")) if vid in vacancies.index else lang}
                for vid in route.leads_to]
        views.append({"rank": int(route.rank), "target": taxonomy.label(route.target_occupation, lang), "lang": lang,
                      "gain": _number(100 * float(route.p_gain), page_language, 1), "steps": steps,
                      "reasons": list(route.reasons), "checks": list(route.to_check),
                      "gap": [taxonomy.label(uri, lang) for uri in route.gap_skills], "leads_to": jobs})
    return views


def render_coach_reports(
    frame: pd.DataFrame,
    explanations: Sequence[Explanation],
    vacancies: pd.DataFrame,
    *,
    language: str = "fi",
    participants: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    pathways: pd.DataFrame | None = None,
    services: pd.DataFrame | None = None,
) -> dict[str, str]:
    """coach_id -> page for every coach in a run's recommendations table (one run: one run_id).

    ``participants`` (participant_id, coach_id; no other column is read): the run's participants, so
    that people without any feasible vacancy, and coaches with only such people, appear too.
    ``previous`` (participant_id, vacancy_id): the last published run's lists; ``pathways`` and
    ``services``: the run's routes to work and the steps they name (``render_coach_report``)."""
    _chrome(language)
    _checked_rows(frame, explanations)
    runs = frame[["run_id", "as_of", "model_version"]].drop_duplicates() if len(frame) else frame
    if len(runs) > 1:
        raise ValueError(f"recommendations hold {len(runs)} runs (run_id, as_of, model_version): render one run at a time")
    if runs.empty:
        return {}
    run = runs.iloc[0]
    everyone = pd.DataFrame(columns=["participant_id", "coach_id"]) if participants is None else participants
    ids = everyone.groupby(everyone["coach_id"].astype(str))["participant_id"].agg(list).to_dict()
    positions = frame.reset_index(drop=True).groupby(frame["coach_id"].astype(str).to_numpy()).indices
    routes = {} if pathways is None or pathways.empty else dict(tuple(pathways.groupby(pathways["coach_id"].astype(str))))
    languages = (dict(zip(everyone["participant_id"].astype(str), everyone["language"].astype(str)))
                 if "language" in everyone.columns else {})
    return {
        coach: render_coach_report(
            coach, run["run_id"], run["as_of"], run["model_version"], frame.iloc[positions.get(coach, [])],
            [explanations[i] for i in positions.get(coach, [])], vacancies, language=language,
            participant_ids=ids.get(coach, ()), previous=previous, pathways=routes.get(coach), services=services,
            participant_languages=languages,
        )
        for coach in sorted(set(positions) | set(ids))
    }


def report_file_name(coach_id: str) -> str:
    """A safe file name for a coach's page: letters, digits, ``_`` and ``-`` only (no path, no dot file);
    an id that had to be changed gets a short hash of the original so that different ids stay apart."""
    if not str(coach_id):
        raise ValueError("coach_id is empty: a report needs a coach")
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", str(coach_id))[:64]
    if safe != coach_id:
        safe += "-" + hashlib.sha256(str(coach_id).encode()).hexdigest()[:8]
    return f"coach-{safe}.html"


def write_coach_reports(pages: Mapping[str, str], folder: str | Path) -> list[Path]:
    """Write each page to ``folder/report_file_name(coach_id)`` atomically (a temporary file in the same
    folder, then a rename); owner-only permissions, as the pages are about people's work capacity."""
    folder = Path(folder)
    names = {coach: report_file_name(coach) for coach in pages}
    seen: dict[str, str] = {}
    for coach, name in names.items():  # case-insensitive file systems fold C1 and c1 together
        if name.lower() in seen:
            raise ValueError(f"coach ids {seen[name.lower()]!r} and {coach!r} give the same report file name {name}")
        seen[name.lower()] = coach
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for coach, page in pages.items():
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".report-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
                out.write(page)
            os.replace(temporary, folder / names[coach])
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written.append(folder / names[coach])
    return written
