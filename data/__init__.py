"""The bundled corpus (shakespeare.txt.gz and its licence), installed as the package data
`nlc_runtime.corpus` (see pyproject.toml; read by `nlc_runtime.data.bundled_corpus`). No code
here: the file exists because an editable install finds a folder mapped to a nested package
only through its __init__.py. make_corpus.py ships beside it as the corpus's provenance."""
