"""Write N OpenAlex-shaped work objects as JSONL to stdout (deterministic for a given --seed).

    python bench/gen_openalex.py 1000000 > works.jsonl

The shape follows the OpenAlex work object: id, doi, title, open_access, best_oa_location,
primary_location, locations[] (with source.type "repository" or "journal"), authorships,
referenced_works, concepts; about 2 KB per line like a trimmed snapshot record.
"""

from __future__ import annotations

import argparse
import random
import sys

import orjson

REPOSITORIES = [
    ("PubMed Central", "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC{n}"),
    ("arXiv", "https://arxiv.org/abs/{n}"),
    ("Zenodo", "https://zenodo.org/record/{n}"),
]
JOURNALS = ["https://journal-{j}.example.org/article/{n}"]


def _source(kind: str, name: str, n: int) -> dict[str, object]:
    return {
        "id": f"https://openalex.org/S{n % 50000}",
        "display_name": name,
        "issn_l": None if kind == "repository" else f"{n % 9000:04d}-{n % 977:04d}",
        "is_oa": kind == "repository",
        "host_organization_name": name,
        "type": kind,
    }


def _repository(n: int, rng: random.Random) -> dict[str, object]:
    name, pattern = rng.choice(REPOSITORIES)
    landing = pattern.format(n=n)
    return {
        "is_oa": True,
        "landing_page_url": landing,
        "pdf_url": landing + "/pdf",
        "source": _source("repository", name, n),
        "license": "cc-by",
        "version": "acceptedVersion",
    }


def _journal(n: int, rng: random.Random, *, oa: bool) -> dict[str, object]:
    landing = JOURNALS[0].format(j=n % 300, n=n)
    return {
        "is_oa": oa,
        "landing_page_url": landing,
        "pdf_url": landing + ".pdf" if oa else None,
        "source": _source("journal", f"Journal {n % 300}", n),
        "license": None,
        "version": "publishedVersion",
    }


def work(n: int, rng: random.Random) -> dict[str, object]:
    primary = _journal(n, rng, oa=rng.random() < 0.5)
    locations = [primary] + [_repository(n + k, rng) for k in range(rng.randint(0, 2))]
    best = next((loc for loc in locations if loc["is_oa"]), None)
    return {
        "id": f"https://openalex.org/W{1_000_000_000 + n}",
        "doi": f"https://doi.org/10.{1000 + n % 9000}/bench.{n}",
        "title": f"A study of item {n} " + "word " * rng.randint(3, 12),
        "publication_year": 1990 + n % 35,
        "type": "article",
        "open_access": {
            "is_oa": best is not None,
            "oa_status": "green" if best else "closed",
            "oa_url": best["pdf_url"] if best else None,
        },
        "primary_location": primary,
        "best_oa_location": best,
        "locations": locations,
        "authorships": [
            {
                "author_position": "first" if a == 0 else "middle",
                "author": {"id": f"https://openalex.org/A{n * 7 + a}", "display_name": f"Author {n}-{a}"},
                "institutions": [
                    {
                        "id": f"https://openalex.org/I{(n + a) % 20000}",
                        "display_name": f"University {(n + a) % 20000}",
                        "country_code": "DE",
                    }
                ],
            }
            for a in range(rng.randint(1, 5))
        ],
        "cited_by_count": rng.randint(0, 500),
        "referenced_works": [
            f"https://openalex.org/W{rng.randint(1, 10**9)}" for _ in range(rng.randint(0, 15))
        ],
        "concepts": [
            {"id": f"https://openalex.org/C{c}", "display_name": f"Concept {c}", "level": 1, "score": 0.5}
            for c in rng.sample(range(10_000), 3)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out = sys.stdout.buffer
    for n in range(args.count):
        out.write(orjson.dumps(work(n, rng)) + b"\n")


if __name__ == "__main__":
    main()
