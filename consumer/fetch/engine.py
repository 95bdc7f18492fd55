"""The download engine: a job's tiers in order, first valid artifact wins, every hop recorded."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

from consumer.errors import FetchFailed, StorageError, StoreFull, TooLarge
from consumer.fetch import http, landing, tiers, validate, wayback
from consumer.fetch.download import Artifact, Downloader, Page
from consumer.fetch.politeness import JOB_DEADLINE_AT, HostPolicy, Politeness, load_overrides
from consumer.fetch.run import JOB_WANTED, JobRun
from consumer.fetch.safety import Resolver, Safety, system_resolver
from consumer.fetch.settings import EngineSettings
from consumer.outcome import FetchObserver, FetchOutcome, NullObserver
from consumer.storage import Store
from schemas import Finalized, JobMessage, Status, Tier, Wanted

# A landing page may lead to another page (meta refresh, an interstitial) before the PDF; no deeper.
MAX_PAGE_DEPTH = 3
PAGE_TIERS = frozenset({Tier.DOI, Tier.LANDING})
# classify_page's answer for a page that is itself the wanted full text.
SELF = landing.Link(url="", rule="self")
# Failures the web archive cannot help with: the URL itself is unusable.
NOT_ARCHIVABLE = frozenset({Status.INVALID_URL, Status.BLOCKED_PRIVATE_ADDRESS})


class Engine:
    """`async with Engine(settings=..., store=...) as engine: outcome = await engine.fetch(job)`.

    Implements consumer.outcome.Fetcher: remote and storage failures come back as outcomes, never raised.
    """

    def __init__(
        self,
        *,
        settings: EngineSettings,
        store: Store,
        observer: FetchObserver | None = None,
        resolver: Resolver = system_resolver,
        connect_hook: http.ConnectHook | None = None,
        max_connections: int = http.MIN_POOL,
    ) -> None:
        """`resolver` answers the guard's DNS lookups; `connect_hook` sees every address before a socket
        connects to it and may refuse it with OSError (tests inject both); `max_connections` bounds the
        connection pool (`http.pool_size` of the download slots)."""
        self._cfg = settings
        self._connect_hook = connect_hook
        self._max_connections = max_connections
        self._store = store
        self._observer = observer or NullObserver()
        self._safety = Safety(
            allow_private=settings.allow_private_hosts,
            allowlist=settings.private_allowlist,
            resolver=resolver,
        )
        self._politeness = Politeness(
            default=HostPolicy(
                concurrency=settings.host_concurrency, min_interval_s=settings.host_min_interval_s
            ),
            overrides=load_overrides(settings.host_overrides_path),
            breaker_failures=settings.breaker_failures,
            breaker_cooldown_s=settings.breaker_cooldown_s,
        )
        # Parsing a 2 MiB page takes tens of ms: in worker threads (lexbor releases the GIL), a few at once.
        self._parse_slots = asyncio.Semaphore(settings.parse_workers)
        self._client: http.Client | None = None
        self._downloader: Downloader | None = None

    async def __aenter__(self) -> Engine:
        self._client = http.make_client(
            self._cfg, self._safety, self._connect_hook, max_connections=self._max_connections
        )
        await self._client.__aenter__()
        self._downloader = Downloader(
            settings=self._cfg,
            client=self._client,
            store=self._store,
            safety=self._safety,
            politeness=self._politeness,
            observer=self._observer,
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.__aexit__(exc_type, exc, tb)

    def set_group_share(self, owned: int, total: int) -> None:
        """GroupShared: this consumer owns `owned` of `total` partitions (called on every rebalance)."""
        self._politeness.set_share(owned, total)

    async def fetch(self, job: JobMessage) -> FetchOutcome:
        run = JobRun(max_hops=self._cfg.max_hops)
        JOB_DEADLINE_AT.set(time.monotonic() + self._cfg.job_deadline_s)
        JOB_WANTED.set(job.wanted)
        try:
            async with asyncio.timeout(self._cfg.job_deadline_s):
                return await self._tiers(job, run)
        except TimeoutError:
            run.failed("", FetchFailed(Status.BUDGET_EXHAUSTED, f"job deadline {self._cfg.job_deadline_s}s"))
            return run.outcome()
        except StoreFull as exc:
            return FetchOutcome(status=exc.status, hops=tuple(run.hops), detail=exc.detail)

    async def _tiers(self, job: JobMessage, run: JobRun) -> FetchOutcome:
        for tier, url in tiers.plan(job, resolver=self._cfg.doi_resolver):
            if url in run.visited:
                continue
            hit = await self._try(url, tier, run)
            if hit is not None:
                return hit
        for url in run.failed_urls(excluding=NOT_ARCHIVABLE)[: self._cfg.wayback_max_lookups]:
            hit = await self._try_archive(url, run)
            if hit is not None:
                return hit
        return run.outcome()

    async def _try(self, url: str, tier: Tier, run: JobRun) -> FetchOutcome | None:
        try:
            return await self._follow(url, tier, run, depth=0)
        except StoreFull:
            raise
        except FetchFailed as exc:
            run.failed(url, exc)
            return None

    async def _follow(self, url: str, tier: Tier, run: JobRun, *, depth: int) -> FetchOutcome:
        got = await self._get(url, tier, run)
        if isinstance(got, Artifact):
            return self._hit(got, tier, run)
        link = await self._read(got, JOB_WANTED.get())
        if link is SELF:
            return self._hit(await self._store_page(got), tier, run)
        if isinstance(link, Status):
            raise FetchFailed(link, got.url[:200])
        if link is None or depth >= MAX_PAGE_DEPTH or link.url in run.visited:
            status = Status.NO_PDF_LINK if tier in PAGE_TIERS else Status.WRONG_MIMETYPE
            raise FetchFailed(status, got.url[:200])
        _note_last_hop(run, f"followed {link.rule}")
        return await self._follow(link.url, Tier.LANDING if tier is Tier.DOI else tier, run, depth=depth + 1)

    async def _read(self, page: Page, wanted: Wanted) -> landing.Link | Status | None:
        """The page's next link (SELF: the page is the wanted HTML full text), else its soft-block
        status, else None; parsed off the event loop."""
        async with self._parse_slots:
            return await asyncio.to_thread(classify_page, page, wanted)

    async def _store_page(self, page: Page) -> Artifact:
        """Store a page that is itself the wanted full text (a job wanting `html`)."""
        if len(page.html) > self._cfg.max_html_bytes:
            raise FetchFailed(Status.BODY_TOO_LARGE, f"page above max_html_bytes={self._cfg.max_html_bytes}")
        try:
            async with self._store.writer() as writer:
                await writer.write(page.html)
                ref = await writer.commit()
        except TooLarge as exc:
            raise FetchFailed(Status.BODY_TOO_LARGE, str(exc)) from exc
        except StorageError as exc:
            raise StoreFull(str(exc)) from exc
        return Artifact(url=page.url, ref=ref, mimetype="text/html")

    async def _try_archive(self, original: str, run: JobRun) -> FetchOutcome | None:
        lookup = wayback.availability_url(self._cfg.wayback_availability_url, original)
        try:
            got = await self._get(lookup, Tier.ARCHIVE, run)
            replay = wayback.raw_replay_url(got.html) if isinstance(got, Page) else None
            if replay is None:
                return None
            return await self._follow(replay, Tier.ARCHIVE, run, depth=MAX_PAGE_DEPTH)
        except StoreFull:
            raise
        except FetchFailed as exc:
            # The archive is a last resort: its own failure shows in the hops and the archive tier's
            # request counter, never as the job's status (the candidates' failure is the real one).
            if not run.hops or run.hops[-1].tier is not Tier.ARCHIVE:
                run.record(lookup, Tier.ARCHIVE, None)  # failed before any request (DNS, safety)
            _note_last_hop(run, f"archive failed: {exc.status} {exc.detail}"[:200])
            return None

    async def _get(self, url: str, tier: Tier, run: JobRun) -> Page | Artifact:
        assert self._downloader is not None, "use Engine as an async context manager"
        return await self._downloader.get(url, tier, run)

    def _hit(self, got: Artifact, tier: Tier, run: JobRun) -> FetchOutcome:
        return FetchOutcome(
            status=Status.SUCCESS,
            hops=tuple(run.hops),
            finalized=Finalized(
                sha256=got.ref.sha256, size=got.ref.size, mimetype=got.mimetype, final_url=got.url, tier=tier
            ),
        )


def classify_page(page: Page, wanted: Wanted = Wanted.PDF) -> landing.Link | Status | None:
    """A page with a full-text link is a landing page whatever else it holds (most carry a cookie banner
    or a captcha script); the soft-block markers decide only for a page that leads nowhere. For a job
    wanting `html`, an article page naming no other HTML full text (or itself) is the full text: SELF."""
    links = landing.read_page(page.html, base_url=page.url, wanted=wanted)
    found = links.next
    if wanted is Wanted.HTML and links.is_article and (found is None or found.url == page.url):
        return SELF if validate.blocked_status(page.html) is None else Status.SOFT_BLOCKED
    return found if found is not None else validate.blocked_status(page.html)


def _note_last_hop(run: JobRun, note: str) -> None:
    """Say on the latest hop why the job moved on from it (which rule found the link, what failed)."""
    if run.hops:
        last = run.hops[-1]
        run.hops[-1] = last.model_copy(update={"note": f"{last.note}; {note}" if last.note else note})
