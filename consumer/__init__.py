"""docfetch consumer: the consumer-group runtime and the download engine behind `fetch(job)`."""

from consumer.outcome import Fetcher, FetchObserver, FetchOutcome, NullObserver

__all__ = ["FetchObserver", "FetchOutcome", "Fetcher", "NullObserver"]
