"""The commands of docfetch-producer, a module each (named for its command, with `register(subparsers)`),
and what only they use: the seed pipeline (seedfile -> jobmapping with openalex/urllist -> seedloop ->
jobsender, seedprogress) and the status --watch loop (statuswatch)."""
