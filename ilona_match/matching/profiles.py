"""Stage 1 of the matching graph: contract tables -> typed profiles with ESCO concepts.

Skills and occupations reach the engine three ways — ESCO URIs, ISCO-08 codes, names in fi/sv/en —
or only inside free text. Everything is resolved to ESCO concepts here, once, so that later stages
compare concepts (language-independent) instead of strings. Concept sets are sparse 0/1 matrices
over a fixed concept space, so pair features are vectorised sparse operations.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

from ilona_match.contract import EMPLOYER_TYPES, ISO_639_1, SECTOR_NAMES, SUPPORTS
from ilona_match.contract.constraints import ParticipantLimits, VacancyDemands
from ilona_match.text.linking import LinksNames
from ilona_match.text.normalise import LANGUAGES, STOPWORDS, lemmatize_word, token_key, tokenize
from ilona_match.text.taxonomy import Concept, ExtractMentions, Taxonomy, mentions_in, wished_words

__all__ = [
    "ConceptSpace", "ParticipantProfiles", "VacancyProfiles", "build_participants", "build_vacancies", "link_names",
    "resolve_listed",
]



@dataclass(frozen=True)
class ConceptSpace:
    """Column numbers for ESCO skills and occupations, fixed by the taxonomy version."""

    skill_column: dict[str, int]
    occupation_column: dict[str, int]

    @classmethod
    def of(cls, taxonomy: Taxonomy) -> ConceptSpace:
        return _concept_space(taxonomy)

    def skill_matrix(self, rows: Sequence[Iterable[str]]) -> sparse.csr_matrix:
        return _indicator(rows, self.skill_column)

    def occupation_matrix(self, rows: Sequence[Iterable[str]]) -> sparse.csr_matrix:
        return _indicator(rows, self.occupation_column)


@lru_cache(maxsize=4)
def _concept_space(taxonomy: Taxonomy) -> ConceptSpace:
    return ConceptSpace(
        {uri: i for i, uri in enumerate(taxonomy.skill_uris)},
        {uri: i for i, uri in enumerate(taxonomy.occupation_uris)},
    )


def _indicator(rows: Sequence[Iterable[str]], columns: dict[str, int]) -> sparse.csr_matrix:
    indptr, indices = [0], []
    for row in rows:
        cols = sorted({columns[uri] for uri in row if uri in columns})
        indices.extend(cols)
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float32)
    return sparse.csr_matrix((data, np.array(indices, dtype=np.int32), np.array(indptr)), shape=(len(rows), len(columns)))


_SECTOR_COLUMNS = 1 << 12


def _sector_column(name: str) -> int:
    """A stable column for a free-text sector name (hashing trick; collisions are negligible)."""
    return zlib.crc32(name.strip().casefold().encode("utf-8")) % _SECTOR_COLUMNS


def _matrix(rows: Sequence[Iterable[int]], width: int) -> sparse.csr_matrix:
    indptr, indices = [0], []
    for row in rows:
        indices.extend(sorted(set(row)))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float32)
    return sparse.csr_matrix((data, np.array(indices, dtype=np.int32), np.array(indptr)), shape=(len(rows), width))


def isco_matrices(groups: Sequence[tuple[str, ...]]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """4-digit and 2-digit ISCO-08 group indicators (column = the code as a number)."""
    four = _matrix([[int(g) for g in row if len(g) == 4 and g.isdigit()] for row in groups], 10_000)
    two = _matrix([[int(g[:2]) for g in row if len(g) >= 2 and g[:2].isdigit()] for row in groups], 100)
    return four, two


@lru_cache(maxsize=8)
def _sector_words(lang: str) -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """Each named sector's ways of saying it in ``lang``: its name's parts around "ja" / "och" / "and"
    ("logistiikka ja varasto": logistiikka, varasto), each as its content words' keys."""
    column = LANGUAGES.index(lang)
    ways = []
    for sector, names in SECTOR_NAMES.items():
        parts: list[list[str]] = [[]]
        for word in tokenize(names[column]):
            if word in ("ja", "och", "and"):
                parts.append([])
            elif word not in STOPWORDS[lang]:
                parts[-1].append(word)
        ways.append((sector, tuple(tuple(token_key(w, lang) for w in part) for part in parts if part)))
    return tuple(ways)


def _meets(word: str, key: str, lang: str) -> bool:
    """Whether a text word is a sector word's key, inflected: equal keys or lemmas, or a Finnish
    consonant gradation the stemmer leaves ("kiertotaloudesta" for "kiertotalous"): the keys share
    all but the key's last letter and the word's key is at most two letters longer."""
    word_key = token_key(word, lang)
    if word_key == key or token_key(lemmatize_word(word, lang), lang) == key:
        return True
    shared = len(key) - 1
    return shared >= 5 and word_key[:shared] == key[:shared] and len(word_key) <= len(key) + 2


def wished_sectors(texts: Sequence[str], languages: Sequence[str]) -> list[tuple[str, ...]]:
    """The named sectors (``SECTOR_NAMES``) each profile text wishes for ("Toiveala: siivous",
    "Olen kiinnostunut vanhustyöstä", "I would like to work in elderly care"): a wish is a preference,
    not a skill, and many coaches write it in the text rather than in ``preferred_sectors``."""
    found = []
    for text, lang in zip(texts, languages, strict=True):
        analysed = _analysed(lang)
        words = wished_words(text, analysed)
        if not words:  # most texts wish for nothing
            found.append(())
            continue
        found.append(tuple(
            sector for sector, parts in _sector_words(analysed)
            if any(all(any(_meets(w, key, analysed) for w in words) for key in part) for part in parts)
        ))
    return found


def sector_matrix(rows: Sequence[Iterable[str]]) -> sparse.csr_matrix:
    return _matrix([[_sector_column(s) for s in row if s] for row in rows], _SECTOR_COLUMNS)


_LANGUAGE_COLUMN = {code: i for i, code in enumerate(sorted(ISO_639_1))}


def language_matrix(rows: Sequence[Iterable[str]]) -> sparse.csr_matrix:
    return _matrix([[_LANGUAGE_COLUMN[c] for c in row if c in _LANGUAGE_COLUMN] for row in rows], len(_LANGUAGE_COLUMN))


def _bitmask(cells: pd.Series, vocabulary: Sequence[str]) -> np.ndarray:
    """List cells as bit masks over ``vocabulary`` (unknown items ignored)."""
    bit = {item: 1 << i for i, item in enumerate(vocabulary)}
    return np.array([sum(bit.get(item, 0) for item in _items(cell)) for cell in cells], dtype=np.int64)


def _items(cell: object) -> tuple[str, ...]:
    return tuple(cell) if isinstance(cell, (tuple, list, np.ndarray)) else ()


def _column(frame: pd.DataFrame, name: str, default: object) -> pd.Series:
    return frame[name] if name in frame else pd.Series([default] * len(frame), index=frame.index)


@dataclass(frozen=True)
class _Resolved:
    skills: list[tuple[str, ...]]
    occupations: list[tuple[str, ...]]
    isco: list[tuple[str, ...]]
    unresolved: int
    unresolved_by_row: list[int]


def _analysed(lang: str) -> str:
    """A row's language as the linker reads it: fi, sv or en; any other reads as Finnish."""
    return lang if lang in LANGUAGES else "fi"


def _linked(linker: LinksNames | None, value: str, kind: Literal["occupation", "skill"], lang: str) -> Concept | None:
    """A name no label matched, through the name linker when its link is confident."""
    if linker is None or not isinstance(value, str):
        return None
    link = linker.link(value, kind, _analysed(lang))
    return link.concept if link.accepted else None


def link_names(linker: LinksNames | None, taxonomy: Taxonomy, cells: Iterable[object], kind: Literal["occupation", "skill"],
               languages: Sequence[str]) -> None:
    """Link, in one batch per language, the names in ``cells`` that no label matches (the linker
    remembers them, so the per-row ``resolve_listed`` after it costs a lookup)."""
    if linker is None:
        return
    by_lang: dict[str, set[str]] = defaultdict(set)
    for cell, lang in zip(cells, languages, strict=True):
        for value in _items(cell):
            if isinstance(value, str) and taxonomy.resolve(value, kind="skill" if kind == "skill" else None) is None:
                by_lang[_analysed(lang)].add(value)
    for lang, names in by_lang.items():
        linker.link_many(sorted(names), kind, lang)


def resolve_listed(taxonomy: Taxonomy, skill_cell: object, occupation_cell: object,
                   linker: LinksNames | None = None, lang: str = "fi") -> tuple[set[str], set[str], set[str], int]:
    """One row's listed skills and occupations (ESCO URIs, ISCO-08 codes or names in fi/sv/en) as
    (skill URIs, occupation URIs, ISCO-08 group codes up to 4 digits, items that resolved to nothing).
    With a ``linker``, a name that is no label counts when its link is confident (``NameLinker``);
    a low-confidence link counts as unresolved, never as a silent guess."""
    skills: set[str] = set()
    occupations: set[str] = set()
    isco: set[str] = set()
    unresolved = 0
    for value, concept in zip(_items(skill_cell), taxonomy.resolve_many(_items(skill_cell), kind="skill"), strict=True):
        concept = concept or _linked(linker, value, "skill", lang)
        if concept is None:
            unresolved += 1
        else:
            skills.add(concept.uri)
    for value in _items(occupation_cell):
        concept = taxonomy.resolve(value) or _linked(linker, value, "occupation", lang)
        if concept is None or concept.kind == "skill":
            unresolved += 1
        elif concept.kind == "occupation":
            occupations.add(concept.uri)
            isco.add(concept.isco_group[:4])
        else:
            isco.add(concept.code[:4])
    return skills, occupations, isco, unresolved


def _resolve(
    taxonomy: Taxonomy,
    skill_cells: Iterable[object],
    occupation_cells: Iterable[object],
    texts: Sequence[str],
    languages: Sequence[str],
    extract: ExtractMentions | None = None,
    linker: LinksNames | None = None,
) -> _Resolved:
    """Listed skills/occupations resolved (names through ``linker`` when given), plus concepts
    extracted from the texts (per row)."""
    skills, occupations, isco, unresolved, by_row = [], [], [], 0, []
    skill_cells, occupation_cells = list(skill_cells), list(occupation_cells)
    link_names(linker, taxonomy, skill_cells, "skill", languages)
    link_names(linker, taxonomy, occupation_cells, "occupation", languages)
    mentioned = extract(texts, languages) if extract is not None else mentions_in(taxonomy, texts, languages)
    for skill_cell, occupation_cell, mentions, lang in zip(skill_cells, occupation_cells, mentioned, languages,
                                                           strict=True):
        row_skills: set[str] = set()
        row_occupations: set[str] = set()
        row_isco: set[str] = set()
        listed_skills, listed_occupations, listed_isco, missed = resolve_listed(taxonomy, skill_cell, occupation_cell,
                                                                                linker, lang)
        row_skills |= listed_skills
        row_occupations |= listed_occupations
        row_isco |= listed_isco
        unresolved += missed
        by_row.append(missed)
        for kind, uri in mentions:
            (row_skills if kind == "skill" else row_occupations).add(uri)
            if kind == "occupation":
                row_isco.add(taxonomy.isco_group(uri))
        skills.append(tuple(sorted(row_skills)))
        occupations.append(tuple(sorted(row_occupations)))
        isco.append(tuple(sorted(row_isco)))
    return _Resolved(skills, occupations, isco, unresolved, by_row)


def _implied_skills(taxonomy: Taxonomy, occupations: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Essential skills of the occupations a person or vacancy names (ESCO's occupation profile)."""
    return [tuple(sorted({s for o in row for s in taxonomy.essential_skills(o)})) for row in occupations]


@dataclass(frozen=True)
class ParticipantProfiles:
    """Participants as arrays; row i is participant ``ids[i]``. Texts never leave the process."""

    ids: np.ndarray
    coach_ids: np.ndarray
    language: np.ndarray
    texts: list[str]  # profile text plus listed skills/occupations (URIs and codes as labels), for the text channels
    concept_texts: list[str]  # English labels of the person's ESCO concepts (cross-lingual channel)
    skills: sparse.csr_matrix  # listed + extracted ESCO skills
    implied_skills: sparse.csr_matrix  # essential skills of past occupations
    occupations: sparse.csr_matrix
    isco_groups: list[tuple[str, ...]]  # 4-digit ISCO-08 groups of past occupations
    isco4: sparse.csr_matrix
    isco2: sparse.csr_matrix
    limits: ParticipantLimits
    lat: np.ndarray
    lon: np.ndarray
    municipality: np.ndarray
    max_commute_km: np.ndarray
    remote_ok: np.ndarray
    preferred_sectors: sparse.csr_matrix  # hashed sector names
    supports: np.ndarray  # bit mask over contract SUPPORTS
    needs_job_coach: np.ndarray
    quiet_environment: np.ndarray
    languages_spoken: sparse.csr_matrix  # ISO 639-1 indicators
    unemployment_months: np.ndarray  # NaN unknown
    unresolved_items: int
    unresolved_by_row: np.ndarray  # listed skills/occupations per person the engine could not read: to check

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, rows: np.ndarray) -> ParticipantProfiles:
        """The profiles of ``rows`` (positions), in that order."""
        values = {}
        for name, value in vars(self).items():
            if isinstance(value, (np.ndarray, sparse.spmatrix)):
                values[name] = value[rows]
            elif isinstance(value, list):
                values[name] = [value[i] for i in rows.tolist()]
            elif isinstance(value, ParticipantLimits):
                values[name] = ParticipantLimits(value.max_hours[rows], value.physical[rows], value.forbids[rows])
            else:
                values[name] = value
        return ParticipantProfiles(**values)


@dataclass(frozen=True)
class VacancyProfiles:
    """Vacancies as arrays; row j is vacancy ``ids[j]``."""

    ids: np.ndarray
    language: np.ndarray
    texts: list[str]
    concept_texts: list[str]
    required_skills: sparse.csr_matrix  # listed required + extracted from the text
    optional_skills: sparse.csr_matrix
    occupation_skills: sparse.csr_matrix  # ESCO essential skills of the vacancy's occupation
    occupations: sparse.csr_matrix
    isco_groups: list[tuple[str, ...]]
    isco4: sparse.csr_matrix
    isco2: sparse.csr_matrix
    demands: VacancyDemands
    lat: np.ndarray
    lon: np.ndarray
    municipality: np.ndarray
    remote: np.ndarray
    openings: np.ndarray
    sector: np.ndarray
    sectors: sparse.csr_matrix  # the sector as a hashed indicator (one column per row)
    employer_type: np.ndarray  # index into contract EMPLOYER_TYPES, -1 unknown
    supports_accepted: np.ndarray  # bit mask over contract SUPPORTS
    languages_required: sparse.csr_matrix
    published_at: np.ndarray  # datetime64[D]
    unresolved_items: int

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def id_index(self) -> pd.Index:
        """The ids as a pandas Index, hashed once: ``id_index.get_indexer(ids)`` finds rows by id
        without rebuilding a lookup of every vacancy per call."""
        return pd.Index(self.ids)

    @cached_property
    def wanted_skills(self) -> sparse.csr_matrix:
        """Every skill a vacancy names (required, optional or of its occupation), as 0/1; built once,
        not per scored pair set (that summed all vacancies' matrices on every API request)."""
        return (self.required_skills + self.optional_skills + self.occupation_skills).sign().tocsr()


def _labels_text(taxonomy: Taxonomy, *uri_rows: Sequence[tuple[str, ...]]) -> list[str]:
    return [". ".join(taxonomy.label(uri, "en") for uri in sorted(set().union(*rows))) for rows in zip(*uri_rows)]


def _joined(parts: Iterable[object]) -> str:
    return ". ".join(str(p) for p in parts if isinstance(p, str) and p.strip())


def _readable(taxonomy: Taxonomy, items: Iterable[str], lang: str) -> list[str]:
    """Listed items as words for the text channels: an ESCO/ISCO URI or code becomes the concept's
    label in the row's language (English when it has none); names stay as the person wrote them.

    A URI is ~25 word pieces that say nothing to the sentence encoder, and its character n-grams
    ("esco/skill/") are shared by every text that lists one: they told texts apart by whether they
    list URIs, not by what they list (NDCG@10 +1.4 to +2.7 % with labels, docs/benchmarks.md)."""
    words = []
    for item in items:
        concept = taxonomy.resolve(item) if isinstance(item, str) else None
        if concept is not None and item.strip() in (concept.uri, concept.code):
            words.append(taxonomy.label(concept.uri, lang))
        else:
            words.append(item)
    return words


def build_participants(participants: pd.DataFrame, taxonomy: Taxonomy,
                       extract: ExtractMentions | None = None, linker: LinksNames | None = None) -> ParticipantProfiles:
    """Resolve a contract-checked participants frame into profiles (``extract``: ESCO mentions of
    the profile texts, e.g. through ``TextAnalysisCache``; by default ``mentions_in``; ``linker``:
    listed names that are no ESCO label, see ``resolve_listed``)."""
    space = ConceptSpace.of(taxonomy)
    language = _column(participants, "language", "fi").fillna("fi").to_numpy(dtype=object)
    profile_text = _column(participants, "profile_text", "").fillna("").astype(str).tolist()
    skill_cells = _column(participants, "skills", ()).tolist()
    occupation_cells = _column(participants, "occupations", ()).tolist()
    resolved = _resolve(taxonomy, skill_cells, occupation_cells, profile_text, language.tolist(), extract, linker)
    implied = _implied_skills(taxonomy, resolved.occupations)
    restrictions = _column(participants, "restrictions", ()).map(_items)
    isco4, isco2 = isco_matrices(resolved.isco)
    texts = [
        _joined([text, *_readable(taxonomy, (*_items(s), *_items(o)), lang)])
        for text, s, o, lang in zip(profile_text, skill_cells, occupation_cells, language, strict=True)
    ]
    return ParticipantProfiles(
        ids=participants["participant_id"].to_numpy(dtype=object),
        coach_ids=participants["coach_id"].to_numpy(dtype=object),
        language=language,
        texts=texts,
        concept_texts=_labels_text(taxonomy, resolved.skills, resolved.occupations),
        skills=space.skill_matrix(resolved.skills),
        implied_skills=space.skill_matrix(implied),
        occupations=space.occupation_matrix(resolved.occupations),
        isco_groups=resolved.isco,
        isco4=isco4,
        isco2=isco2,
        limits=ParticipantLimits.from_frame(participants),
        lat=_column(participants, "lat", np.nan).to_numpy(dtype=np.float64, na_value=np.nan),
        lon=_column(participants, "lon", np.nan).to_numpy(dtype=np.float64, na_value=np.nan),
        municipality=_column(participants, "municipality", None).fillna("").str.casefold().to_numpy(dtype=object),
        max_commute_km=_column(participants, "max_commute_km", 30.0).fillna(30.0).to_numpy(dtype=np.float64),
        remote_ok=_column(participants, "remote_ok", False).fillna(False).to_numpy(dtype=bool),
        preferred_sectors=sector_matrix([
            (*_items(listed), *wished) for listed, wished in zip(
                _column(participants, "preferred_sectors", ()), wished_sectors(profile_text, language.tolist()), strict=True)
        ]),
        supports=_bitmask(_column(participants, "supports", ()), SUPPORTS),
        needs_job_coach=restrictions.map(lambda r: "needs_job_coach" in r).to_numpy(dtype=bool),
        quiet_environment=restrictions.map(lambda r: "quiet_environment" in r).to_numpy(dtype=bool),
        languages_spoken=language_matrix([_items(c) for c in _column(participants, "languages_spoken", ())]),
        unemployment_months=_column(participants, "unemployment_months", np.nan).to_numpy(
            dtype=np.float64, na_value=np.nan
        ),
        unresolved_items=resolved.unresolved,
        unresolved_by_row=np.asarray(resolved.unresolved_by_row, dtype=np.int32),
    )


def build_vacancies(vacancies: pd.DataFrame, taxonomy: Taxonomy,
                    extract: ExtractMentions | None = None, linker: LinksNames | None = None) -> VacancyProfiles:
    """Resolve a contract-checked vacancies frame into profiles (``extract`` and ``linker`` as in
    ``build_participants``)."""
    space = ConceptSpace.of(taxonomy)
    language = _column(vacancies, "language", "fi").fillna("fi").to_numpy(dtype=object)
    title = _column(vacancies, "title", "").fillna("").astype(str).tolist()
    description = _column(vacancies, "description", "").fillna("").astype(str).tolist()
    full_text = [_joined([t, d]) for t, d in zip(title, description)]
    required_cells = _column(vacancies, "required_skills", ()).tolist()
    optional_cells = _column(vacancies, "optional_skills", ()).tolist()
    occupation_cells = [(o,) if isinstance(o, str) and o else () for o in _column(vacancies, "occupation", None)]
    required = _resolve(taxonomy, required_cells, occupation_cells, full_text, language.tolist(), extract, linker)
    link_names(linker, taxonomy, optional_cells, "skill", language.tolist())
    optional = [
        tuple(sorted(resolve_listed(taxonomy, cell, (), linker, lang)[0]))
        for cell, lang in zip(optional_cells, language.tolist(), strict=True)
    ]
    unresolved_optional = sum(len(_items(cell)) for cell in optional_cells) - sum(len(o) for o in optional)
    employer = {name: i for i, name in enumerate(EMPLOYER_TYPES)}
    isco4, isco2 = isco_matrices(required.isco)
    sector = _column(vacancies, "sector", "").fillna("").to_numpy(dtype=object)
    texts = [_joined([t, *_readable(taxonomy, (*_items(r), *_items(o)), lang)])
             for t, r, o, lang in zip(full_text, required_cells, optional_cells, language, strict=True)]
    return VacancyProfiles(
        ids=vacancies["vacancy_id"].to_numpy(dtype=object),
        language=language,
        texts=texts,
        concept_texts=_labels_text(taxonomy, required.skills, optional, required.occupations),
        required_skills=space.skill_matrix(required.skills),
        optional_skills=space.skill_matrix(optional),
        occupation_skills=space.skill_matrix(_implied_skills(taxonomy, required.occupations)),
        occupations=space.occupation_matrix(required.occupations),
        isco_groups=required.isco,
        isco4=isco4,
        isco2=isco2,
        demands=VacancyDemands.from_frame(vacancies),
        lat=_column(vacancies, "lat", np.nan).to_numpy(dtype=np.float64, na_value=np.nan),
        lon=_column(vacancies, "lon", np.nan).to_numpy(dtype=np.float64, na_value=np.nan),
        municipality=_column(vacancies, "municipality", None).fillna("").str.casefold().to_numpy(dtype=object),
        remote=_column(vacancies, "remote", False).fillna(False).to_numpy(dtype=bool),
        openings=_column(vacancies, "openings", 1.0).fillna(1.0).to_numpy(dtype=np.float64),
        sector=sector,
        sectors=sector_matrix([(s,) for s in sector]),
        employer_type=_column(vacancies, "employer_type", None).map(employer).fillna(-1).to_numpy(dtype=np.int8),
        supports_accepted=_bitmask(_column(vacancies, "supports_accepted", ()), SUPPORTS),
        languages_required=language_matrix([_items(c) for c in _column(vacancies, "languages_required", ())]),
        published_at=vacancies["published_at"].to_numpy(dtype="datetime64[D]"),
        unresolved_items=required.unresolved + unresolved_optional,
    )
