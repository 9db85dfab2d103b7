"""Readers (one strict reader per file format), dataset builders and collators.

The char-GPT (birthplace) study's names are importable from here: the readers and examples of
`hfmodels.data.birthplaces`, span corruption in `hfmodels.data.span_corruption`, the packed or
padded layout in `hfmodels.data.packing`, rehearsal in `hfmodels.data.replay`, the shared decoding
rules in `hfmodels.data.text_files`, data paths in `hfmodels.data.paths`. Other data sets are
imported from their submodules (`hfmodels.data.minbert`, `hfmodels.data.multitask`, ...).
"""

from .birthplaces import (
    BIRTHPLACE_FILES,
    QUESTION_PATTERN,
    WIKI_FILE,
    BirthplaceCollator,
    birthplace_example,
    build_char_tokenizer,
    encode_birthplaces,
    load_birthplaces,
    load_wiki_corpus,
    question_name,
    question_prompt,
    question_prompts,
    read_birthplace_file,
    read_wiki_file,
    split_of_file,
)
from .packing import IGNORE_INDEX, first_fit, layout_batch
from .paths import data_file, resolve_data_dir, resolve_data_path
from .replay import ReplayCollator
from .span_corruption import (
    ResumableSpanCorruptionCollator,
    SpanCorruptionCollator,
    draw_spans,
    encode_wiki_corpus,
    example_key,
    max_truncation_length,
    original_pair,
    process_rank,
    span_corrupt,
)
from .text_files import DataFormatError, read_lines, read_text, shorten

__all__ = [
    "BIRTHPLACE_FILES",
    "IGNORE_INDEX",
    "QUESTION_PATTERN",
    "WIKI_FILE",
    "BirthplaceCollator",
    "DataFormatError",
    "ReplayCollator",
    "ResumableSpanCorruptionCollator",
    "SpanCorruptionCollator",
    "birthplace_example",
    "build_char_tokenizer",
    "data_file",
    "draw_spans",
    "encode_birthplaces",
    "encode_wiki_corpus",
    "example_key",
    "first_fit",
    "layout_batch",
    "load_birthplaces",
    "load_wiki_corpus",
    "max_truncation_length",
    "original_pair",
    "process_rank",
    "question_name",
    "question_prompt",
    "question_prompts",
    "read_birthplace_file",
    "read_lines",
    "read_text",
    "read_wiki_file",
    "resolve_data_dir",
    "resolve_data_path",
    "shorten",
    "span_corrupt",
    "split_of_file",
]
