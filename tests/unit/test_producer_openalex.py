"""OpenAlex work -> job mapping and URL-list lines -> jobs (no I/O)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from consumer.fetch.tiers import plan
from producer.commands.jobmapping import map_openalex, map_urls, outcome
from producer.commands.openalex import encoded_job_from_work, job_from_work, work_doi
from producer.commands.urllist import job_from_line
from producer.errors import RejectedLine
from schemas import Tier, decode_job, encode, job_id_for_url, job_id_for_work
from schemas.doi import bare_doi

REPO = {"type": "repository", "display_name": "PubMed Central"}
JOURNAL = {"type": "journal", "display_name": "J"}


def work(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "https://openalex.org/W42",
        "doi": "https://doi.org/10.1/abc",
        "best_oa_location": {
            "pdf_url": "https://j.org/a.pdf",
            "landing_page_url": "https://j.org/a",
            "is_oa": True,
            "source": JOURNAL,
        },
        "primary_location": {
            "pdf_url": "https://j.org/a.pdf",
            "landing_page_url": "https://j.org/a",
            "is_oa": True,
            "source": JOURNAL,
        },
        "locations": [
            {"pdf_url": "https://j.org/a.pdf", "landing_page_url": "https://j.org/a", "source": JOURNAL},
            {
                "pdf_url": "https://europepmc.org/PMC1/pdf",
                "landing_page_url": "https://europepmc.org/PMC1",
                "source": REPO,
            },
            {"pdf_url": None, "landing_page_url": "https://repo.edu/1", "source": None},
        ],
        "open_access": {"is_oa": True, "oa_url": "https://J.org/a.pdf"},
        "authorships": [{"author": {"display_name": "x"}}],  # unknown to us: ignored
        "some_new_field": {"nested": [1, 2]},
    }
    base.update(extra)
    return base


def test_candidate_order_tiers_and_dedupe() -> None:
    job = job_from_work(work(), seeded_at_ms=5)
    assert job.job_id == job_id_for_work("W42") and job.work_id == "W42" and job.doi == "10.1/abc"
    assert [(c.tier, c.url) for c in job.candidates] == [
        # best_oa_location first (location order within the first rank); oa_url "https://J.org/a.pdf" is
        # the same canonical URL
        (Tier.OA_PDF, "https://j.org/a.pdf"),
        (Tier.REPOSITORY, "https://europepmc.org/PMC1/pdf"),
        (Tier.DOI, "https://doi.org/10.1/abc"),
        (Tier.LANDING, "https://j.org/a"),
        (Tier.LANDING, "https://europepmc.org/PMC1"),
        (Tier.LANDING, "https://repo.edu/1"),
    ]
    assert job.source == "openalex" and job.attempt == 0 and job.seeded_at_ms == 5


def test_encoded_job_is_a_valid_contract_message() -> None:
    kind, line_no, jid, value = outcome(orjson.dumps(work()), 7, map_openalex)
    assert (kind, line_no, jid) == ("job", 7, job_id_for_work("W42"))
    assert decode_job(value).candidates[0].tier is Tier.OA_PDF


def test_invalid_urls_dropped_and_oa_url_landing() -> None:
    w = work(
        best_oa_location=None,
        primary_location=None,
        doi=None,
        locations=[{"pdf_url": "ftp://x/y.pdf", "landing_page_url": "https://l.org/p", "source": None}],
        open_access={"oa_url": "https://l.org/p"},
    )
    assert [(c.tier, c.url) for c in job_from_work(w, seeded_at_ms=0).candidates] == [
        (Tier.LANDING, "https://l.org/p")
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not-json"),
        (b"[1, 2]", "wrong-shape"),
        (b'{"doi": "https://doi.org/10.1/x"}', "no-id"),
        (b'{"id": "https://openalex.org/A1", "doi": "https://doi.org/10.1/x"}', "bad-id"),
        (b'{"id": "W1", "locations": {"pdf_url": "https://x.org/a"}}', "wrong-shape"),
        (b'{"id": "W1", "doi": "not a url", "locations": [{"pdf_url": "javascript:x"}]}', "no-usable-url"),
        (b'{"id": 5}', "wrong-shape"),
    ],
)
def test_bad_works_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    assert outcome(raw, 3, map_openalex)[:3] == ("reject", 3, reason)


def test_url_lines() -> None:
    bare = job_from_line("https://example.org/a,b.pdf", seeded_at_ms=1)
    assert bare.job_id == job_id_for_url("https://example.org/a,b.pdf") and bare.work_id is None
    csv_job = job_from_line('W7,"https://doi.org/10.5/x"', seeded_at_ms=1)
    assert csv_job.job_id == job_id_for_work("W7") and csv_job.candidates[0].tier is Tier.DOI
    assert csv_job.doi == "10.5/x"
    assert outcome(b"work_id,url", 1, map_urls) == ("blank", 1)  # optional header
    assert outcome(b"   ", 2, map_urls) == ("blank", 2)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("W1,notaurl", "invalid-url"),
        ("a,b,c", "bad-csv"),
        ("W1,", "invalid-url"),
        ("ftp://x.org/", "invalid-url"),
    ],
)
def test_bad_url_lines(line: str, reason: str) -> None:
    with pytest.raises(RejectedLine) as err:
        job_from_line(line, seeded_at_ms=0)
    assert err.value.reason == reason


def test_non_utf8_url_line_is_rejected() -> None:
    assert outcome(b"https://x.org/\xff\xfe", 4, map_urls)[:3] == ("reject", 4, "not-utf8")


def test_a_repository_best_oa_location_is_tried_first() -> None:
    """The tier order is stated once (schemas.TIER_RANK): repository and oa_pdf share the first rank, so the
    consumer keeps the producer's list order there, and best_oa_location leads it."""
    best = {"pdf_url": "https://europepmc.org/PMC9/pdf", "landing_page_url": "https://europepmc.org/PMC9"}
    job = job_from_work(work(best_oa_location={**best, "source": REPO}), seeded_at_ms=0)
    assert [(c.tier, c.url) for c in job.candidates][:2] == [
        (Tier.REPOSITORY, "https://europepmc.org/PMC9/pdf"),
        (Tier.OA_PDF, "https://j.org/a.pdf"),
    ]
    planned = plan(job, resolver="https://doi.org/")
    assert [url for _, url in planned][:2] == ["https://europepmc.org/PMC9/pdf", "https://j.org/a.pdf"]


# The seeding hot path (encoded_job_from_work) writes the job message without pydantic when the fields are
# plainly valid: it must give the bytes of encode(job_from_work(...)) and the same rejects.
_URL_PARTS = st.sampled_from(
    ["https://", "http://", "HTTPS://", "ftp://", "https://doi.org/", "j.org", "x.example", "/", "a", "%41",
     "..", "?", "#", " ", "\t", "\x00", "\x7f", "é", "\u2003", "\ufeff", "0x7f.1", "10.1/", "[", ":8080"]
)  # fmt: skip
_URLS = st.one_of(
    st.none(),
    st.integers(),
    st.just(["https://j.org/a.pdf"]),  # unhashable: dropped like any non-string
    st.lists(_URL_PARTS, max_size=8).map("".join),
    st.text(max_size=20).map(lambda t: f"https://j.org/{t}"),
    st.integers(min_value=0, max_value=9000).map(lambda n: "https://j.org/" + "a" * n),
)
_LOCATION = st.fixed_dictionaries(
    {"pdf_url": _URLS, "landing_page_url": _URLS},
    optional={"source": st.one_of(st.none(), st.just(REPO), st.just(JOURNAL), st.just([]))},
)
_LONG_DOIS = st.integers(min_value=0, max_value=1100).map(lambda n: f"https://doi.org/{n * '9'}")
_WORKS = st.fixed_dictionaries(
    {"id": st.one_of(st.just("https://openalex.org/W1"), st.text(max_size=5).map(lambda t: f"W{t}"),
                     st.integers(min_value=0, max_value=300).map(lambda n: "W" + "1" * n))},
    optional={
        "doi": st.one_of(_URLS, st.text(max_size=30).map(lambda t: f"https://doi.org/{t}"),
                         _LONG_DOIS),
        "best_oa_location": st.one_of(st.none(), _LOCATION),
        "primary_location": st.one_of(st.none(), _LOCATION, st.just("x")),
        "locations": st.lists(st.one_of(_LOCATION, st.none()), max_size=40),
        "open_access": st.one_of(st.none(), st.fixed_dictionaries({"oa_url": _URLS})),
    },
)  # fmt: skip


def _result(f: Any) -> Any:
    try:
        return f()
    except RejectedLine as exc:
        return ("rejected", exc.reason, exc.detail)
    except ValidationError as exc:
        return ("invalid", str(exc))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(_WORKS)
def test_the_encoded_job_is_the_models_encoding(w: dict[str, Any]) -> None:
    def model() -> tuple[str, bytes]:
        job = job_from_work(w, seeded_at_ms=17)
        return job.job_id, encode(job)

    assert _result(lambda: encoded_job_from_work(w, seeded_at_ms=17)) == _result(model)


@given(st.text(max_size=40), st.sampled_from(["https://doi.org/", "https://doi.org//", " https://doi.org/"]))
def test_work_doi_is_bare_doi(rest: str, prefix: str) -> None:
    assert work_doi(prefix + rest) == bare_doi(prefix + rest)


def test_fields_past_the_bounds_go_through_the_model() -> None:
    for bad in ({"id": "W" + "1" * 300}, {"doi": "https://doi.org/10.1/\x7f"}, {"doi": "https://doi.org/"}):
        w = work(**bad)
        with pytest.raises(ValidationError):
            job_from_work(w, seeded_at_ms=0)
        assert _result(lambda w=w: encoded_job_from_work(w, seeded_at_ms=0))[0] == "invalid"
