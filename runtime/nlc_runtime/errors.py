"""The error of unusable training data, shared by the data, tokenizer and cache modules."""


class DataError(Exception):
    """Unusable training data (missing, empty, not UTF-8, too short) or tokenizer: a one-line
    message naming the file; train.py turns it into exit code 2 without a traceback."""
