"""The run record, the analysis's source of truth: its schema (schema), how a run writes and
locks it (store), and how the analysis reads records, or their W&B mirror, into frames (load)."""
