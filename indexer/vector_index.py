"""Where kb/ (cli, cli_db, doctor, status) and tests/test_onnx_embedder.py import the
saved index's meta and errors from. The vector stores are in indexer/vectors/."""

from indexer.vectors.saved_index import IndexModelMismatch, IndexUnreadable, read_meta

__all__ = ["IndexModelMismatch", "IndexUnreadable", "read_meta"]
