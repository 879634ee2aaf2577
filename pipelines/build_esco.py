"""Build the compact ESCO v1.1.1 files shipped inside the package.

Run once by a developer when the ESCO source changes (the package never reads the source at run
time)::

    python pipelines/build_esco.py --source ../shared/data/esco

It keeps what matching needs: skills and occupations with fi/sv/en preferred labels, English
alternative labels, skill type and reuse level, occupation ISCO-08 groups, the essential/optional
occupation-skill relations and the ISCO-08 group names; and the simplemma lemma of every label word
(``lemmas.parquet``, so that no run pays for looking them up again). Output: Parquet with zstd compression in
``ilona_match/data/esco/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ilona_match.text.esco import load_esco_tables
from ilona_match.text.normalise import write_lemma_table
from ilona_match.text.taxonomy import Taxonomy

OUT_DIR = Path(__file__).resolve().parents[1] / "ilona_match" / "data" / "esco"


def _alt_labels(cell: object, preferred: str) -> str:
    """Alternative English labels, newline-separated, without the preferred one."""
    if not isinstance(cell, str):
        return ""
    seen: list[str] = []
    for label in cell.split("\n"):
        label = label.strip()
        if label and label != preferred and label not in seen:
            seen.append(label)
    return "\n".join(seen)


def build(source: Path, out_dir: Path = OUT_DIR) -> None:
    skills_en = pd.read_csv(source / "skills_en.csv", dtype=str, keep_default_na=False)
    skills_lab = pd.read_csv(source / "skills_fi_sv_en.csv", dtype=str, keep_default_na=False)
    occ_en = pd.read_csv(source / "occupations_en.csv", dtype=str, keep_default_na=False)
    occ_lab = pd.read_csv(source / "occupations_fi_sv_en.csv", dtype=str, keep_default_na=False)
    isco = pd.read_csv(source / "isco08_groups_fi_sv_en.csv", dtype=str, keep_default_na=False)
    relations = pd.read_csv(source / "occupationSkillRelations.csv", dtype=str, keep_default_na=False)

    skills = skills_lab.merge(
        skills_en[["conceptUri", "skillType", "reuseLevel", "altLabels"]], on="conceptUri", how="left"
    )
    skills = pd.DataFrame(
        {
            "uri": skills["conceptUri"],
            "kind": "skill",
            "code": "",
            "isco_group": "",
            "label_fi": skills["label_fi"],
            "label_sv": skills["label_sv"],
            "label_en": skills["label_en"],
            "alt_labels_en": [
                _alt_labels(a, p) for a, p in zip(skills["altLabels"], skills["label_en"])
            ],
            "skill_type": skills["skillType"].fillna(""),
            "reuse_level": skills["reuseLevel"].fillna(""),
        }
    )
    occ = occ_lab.merge(occ_en[["conceptUri", "altLabels"]], on="conceptUri", how="left")
    occupations = pd.DataFrame(
        {
            "uri": occ["conceptUri"],
            "kind": "occupation",
            "code": occ["code"],
            "isco_group": occ["iscoGroup"],
            "label_fi": occ["label_fi"],
            "label_sv": occ["label_sv"],
            "label_en": occ["label_en"],
            "alt_labels_en": [_alt_labels(a, p) for a, p in zip(occ["altLabels"], occ["label_en"])],
            "skill_type": "",
            "reuse_level": "",
        }
    )
    concepts = pd.concat([skills, occupations], ignore_index=True)
    concepts = concepts.sort_values(["kind", "uri"], kind="stable").reset_index(drop=True)
    index = pd.Series(range(len(concepts)), index=concepts["uri"])

    rel = relations[relations["skillUri"].isin(index.index) & relations["occupationUri"].isin(index.index)]
    rel_out = pd.DataFrame(
        {
            "occupation": index.loc[rel["occupationUri"]].to_numpy().astype("int32"),
            "skill": index.loc[rel["skillUri"]].to_numpy().astype("int32"),
            "essential": (rel["relationType"] == "essential").to_numpy(),
        }
    ).sort_values(["occupation", "skill"]).reset_index(drop=True)

    isco_out = pd.DataFrame(
        {
            "code": isco["code"],
            "label_fi": isco["label_fi"],
            "label_sv": isco["label_sv"],
            "label_en": isco["label_en"],
        }
    ).sort_values("code").reset_index(drop=True)

    out_dir.mkdir(parents=True, exist_ok=True)
    opts = {"compression": "zstd", "index": False}
    concepts.to_parquet(out_dir / "concepts.parquet", **opts)
    rel_out.to_parquet(out_dir / "relations.parquet", **opts)
    isco_out.to_parquet(out_dir / "isco_groups.parquet", **opts)
    words = write_lemma_table(Taxonomy(load_esco_tables(out_dir)).label_words(), out_dir / "lemmas.parquet")
    print(f"{len(skills)} skills, {len(occupations)} occupations, {len(rel_out)} relations, "
          f"{len(isco_out)} ISCO groups, lemmas of {words} label words -> {out_dir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="folder of the ESCO v1.1.1 CSVs")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    build(args.source, args.out)


if __name__ == "__main__":
    main()
