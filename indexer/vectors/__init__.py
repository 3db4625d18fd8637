"""Vector stores: passage vectors by key, searched by inner product (cosine on
normalised vectors). store.py says what every store does; faiss_store.py is the
one kb serves from (faiss_params.py: which FAISS index, by size), numpy_store.py
an exact one for tests and comparisons; saved_index.py is their format on disk,
keys.py the keys they are given."""
