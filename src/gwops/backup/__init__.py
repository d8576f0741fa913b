"""Database backups that are proven restorable.

`dump` streams a consistent plain dump out of the running Postgres (zstd, sha256 and per-table
row counts computed on the fly: memory stays flat), `verify` restores it into a throwaway
container with no network and compares row counts, `retention` decides what to keep from
manifests alone, `restore` cuts the live database over by renaming. `service.Backups` ties
them together behind one lock.
"""
