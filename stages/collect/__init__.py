"""collect: fetch pinned raw text sources and write them as sharded parquet documents."""
