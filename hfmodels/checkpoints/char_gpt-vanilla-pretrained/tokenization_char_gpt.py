"""Character tokenizer of the knowledge-access study (docs/definitions.md, "Vocabulary")."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizer, PreTrainedTokenizerFast

PAD_CHAR = "\u25a1"  # □, id 0
MASK_CHAR = "\u2047"  # ⁇, id 1
VOCAB_FILES_NAMES = {"vocab_file": "vocab.json"}


class UnknownCharacterError(ValueError):
    """A character that is not in the vocabulary (raised, never mapped to a wrong id)."""


def _cut(value: object, limit: int = 80) -> str:
    """`repr(value)`, cut to `limit` characters so that an error message stays readable."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} characters)"


def read_vocab_file(vocab_file: str | os.PathLike | None, folder: str | None = None) -> dict[str, int]:
    """The `vocab.json` mapping of a character tokenizer: a JSON object from single characters to
    integer ids. A missing file, invalid JSON (with its line and column) or any other shape is a
    `ValueError` naming the file (or the `folder` it was looked for in); nothing is rebuilt or guessed."""
    if vocab_file is None:
        where = (
            os.path.join(folder, VOCAB_FILES_NAMES["vocab_file"])
            if folder
            else VOCAB_FILES_NAMES["vocab_file"]
        )
        raise ValueError(
            f"{where}: the vocabulary file does not exist; a model folder's tokenizer needs its own "
            "vocabulary file (it is never rebuilt from a corpus)."
        )
    try:
        with open(vocab_file, encoding="utf-8") as f:
            vocab = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{vocab_file}: the vocabulary file does not exist.") from None
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{vocab_file}: line {err.lineno}, column {err.colno}: not valid JSON ({err.msg})."
        ) from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{vocab_file}: byte {err.start}: not valid UTF-8.") from None
    if not isinstance(vocab, dict):
        raise ValueError(
            f"{vocab_file}: expected a JSON object mapping single characters to ids, "
            f"found a {type(vocab).__name__}."
        )
    for char, index in vocab.items():
        if len(char) != 1 or not isinstance(index, int) or isinstance(index, bool):
            raise ValueError(
                f"{vocab_file}: entry {_cut(char)}: {_cut(index)} is not a single character mapped to an "
                "integer id."
            )
    return vocab


class CharTokenizer(PreTrainedTokenizer):
    """One id per character: PAD `□` = 0, MASK `⁇` = 1, then the sorted unique characters of
    the pretraining corpus (256 ids for `wiki.txt`).

    Characters outside the vocabulary raise [`UnknownCharacterError`] naming the character,
    its code point and its index in the text (`unknown_char="error"`, the default). With
    `unknown_char=" "` (or any other in-vocabulary character) they are replaced by that
    character instead; the replacement is recorded in the saved tokenizer config. No character
    is ever silently mapped to a wrong id. No special tokens are added around the text: the
    study's strings carry their own `⁇` delimiters.

    Build one from text with [`CharTokenizer.from_corpus`]; save and load with
    `save_pretrained` / `from_pretrained` (or `AutoTokenizer`).
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str | None = None,
        pad_token: str = PAD_CHAR,
        mask_token: str = MASK_CHAR,
        unknown_char: str = "error",
        padding_side: str = "left",
        **kwargs,
    ):
        vocab = read_vocab_file(vocab_file, kwargs.get("name_or_path"))
        ids = sorted(vocab.values())
        if ids != list(range(len(ids))):
            raise ValueError(f"{vocab_file}: ids must be 0..{len(ids) - 1} without gaps or repeats.")
        for char, want in ((str(pad_token), 0), (str(mask_token), 1)):
            if vocab.get(char) != want:
                raise ValueError(f"{vocab_file}: {char!r} must have id {want}, found {vocab.get(char)!r}.")
        if unknown_char != "error" and unknown_char not in vocab:
            raise ValueError(
                f"CharTokenizer: unknown_char={_cut(unknown_char)} must be 'error' or a character of the "
                "vocabulary."
            )
        self.vocab_file_path = vocab_file
        self.char_to_id: dict[str, int] = dict(vocab)
        self.id_to_char: dict[int, str] = {i: c for c, i in vocab.items()}
        self.unknown_char = unknown_char
        super().__init__(
            pad_token=pad_token,
            mask_token=mask_token,
            unknown_char=unknown_char,
            padding_side=padding_side,
            **kwargs,
        )

    @classmethod
    def from_corpus(
        cls, text: str | Iterable[str], save_directory: str | None = None, **kwargs
    ) -> CharTokenizer:
        """Build the vocabulary from `text` (a string or an iterable of strings): PAD, MASK, then the
        sorted set of its characters. The vocabulary file is written to `save_directory` (a
        temporary directory if not given)."""
        chars: set[str] = set()
        for piece in [text] if isinstance(text, str) else text:
            chars.update(piece)
        chars.discard(PAD_CHAR)
        chars.discard(MASK_CHAR)
        vocab = {c: i for i, c in enumerate([PAD_CHAR, MASK_CHAR, *sorted(chars)])}
        if save_directory is None:
            import tempfile

            save_directory = tempfile.mkdtemp(prefix="char_tokenizer_")
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(save_directory, VOCAB_FILES_NAMES["vocab_file"])
        with open(path, "w", encoding="utf-8") as f:
            json.dump(vocab, f, ensure_ascii=False)
        return cls(vocab_file=path, **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.char_to_id)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.char_to_id)

    def encode_chars(self, text: str) -> list[int]:
        """Ids of the characters of `text`, with the unknown-character rule applied (fast path
        used by the data pipeline; equal to `tokenizer(text).input_ids`)."""
        table = self.char_to_id
        try:
            return [table[c] for c in text]
        except KeyError:
            pass
        if self.unknown_char == "error":
            self.first_unknown(text, table)
        return [table.get(c, table[self.unknown_char]) for c in text]

    @staticmethod
    def first_unknown(text: str, table: dict[str, int]) -> None:
        """Raise [`UnknownCharacterError`] naming the first character of `text` not in `table`."""
        for i, c in enumerate(text):
            if c not in table:
                raise UnknownCharacterError(
                    f"character {c!r} (U+{ord(c):04X}) at index {i} is not in the vocabulary "
                    f"of {len(table)} characters"
                )

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return list(text)

    def _convert_token_to_id(self, token: str) -> int:
        if token in self.char_to_id:
            return self.char_to_id[token]
        if self.unknown_char == "error":
            raise UnknownCharacterError(
                f"character {token!r} (U+{ord(token[0]):04X}) is not in the vocabulary of {self.vocab_size} characters"
            )
        return self.char_to_id[self.unknown_char]

    def _convert_id_to_token(self, index: int) -> str:
        if index not in self.id_to_char:
            raise ValueError(f"id {index} is outside the vocabulary (0..{self.vocab_size - 1})")
        return self.id_to_char[index]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        name = (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILES_NAMES["vocab_file"]
        path = os.path.join(save_directory, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.char_to_id, f, ensure_ascii=False)
        return (path,)


def char_backend(vocab: dict[str, int], unknown_char: str = "error") -> Tokenizer:
    """The `tokenizers` pipeline of the character vocabulary: every character (newlines included) a
    piece, a WordLevel lookup, pieces joined back without separators. With `unknown_char="error"` the
    WordLevel model has no unknown token, so an unknown character fails the encoding (re-raised by
    [`CharTokenizerFast`] as [`UnknownCharacterError`])."""
    unk = unknown_char if unknown_char != "error" else PAD_CHAR + MASK_CHAR  # never a single-character piece
    backend = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return backend


class CharTokenizerFast(PreTrainedTokenizerFast):
    """[`CharTokenizer`]'s vocabulary and rules as a `tokenizers` pipeline ([`char_backend`]), saved as
    `tokenizer.json` (with `vocab.json`, so the slow class still loads the folder).

    Same ids as the slow tokenizer; `eos_token` is `⁇` (generation stops there) and `model_max_length`
    is what the caller gives (the model's `config.max_input_length`), so `truncation=True` cuts inputs
    to what the model accepts. Unknown characters follow `unknown_char` as in the slow class.

    Speed on wiki.txt (418,351 characters, 2,937 lines, one call on the list of lines; Intel Xeon
    with AVX512-BF16/AMX, shared and loaded, 2026-12-04, best of 5): this class 391 ms, the slow
    class 312 ms; `encode_chars` (the data pipeline's dictionary lookup, on either class) 22-29 ms.
    The per-character split leaves `tokenizers` nothing to gain over a dictionary lookup: the
    fast class is for the ecosystem (`tokenizer.json`, `truncation`, `eos_token`), not for speed."""

    vocab_files_names = {**VOCAB_FILES_NAMES, "tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask"]
    slow_tokenizer_class = CharTokenizer

    def __init__(
        self,
        vocab_file: str | None = None,
        tokenizer_file: str | None = None,
        pad_token: str = PAD_CHAR,
        mask_token: str = MASK_CHAR,
        eos_token: str = MASK_CHAR,
        unknown_char: str = "error",
        padding_side: str = "left",
        **kwargs,
    ):
        # `from_pretrained` passes the vocabulary it read from tokenizer.json (the backend is built from
        # vocab.json or tokenizer.json; kept, it would be copied into tokenizer_config.json) and a slow
        # folder's `backend: custom` (this one is `tokenizers`).
        kwargs.pop("vocab", None)
        kwargs.pop("backend", None)
        if kwargs.get("tokenizer_object") is None and not (tokenizer_file and os.path.isfile(tokenizer_file)):
            slow = CharTokenizer(
                vocab_file,
                pad_token=pad_token,
                mask_token=mask_token,
                unknown_char=unknown_char,
                name_or_path=kwargs.get("name_or_path", ""),
            )
            kwargs["tokenizer_object"] = char_backend(slow.get_vocab(), unknown_char)
        self.vocab_file = vocab_file
        self.unknown_char = unknown_char
        super().__init__(
            tokenizer_file=tokenizer_file,
            pad_token=pad_token,
            mask_token=mask_token,
            eos_token=eos_token,
            unknown_char=unknown_char,
            padding_side=padding_side,
            **kwargs,
        )
        self.char_to_id: dict[str, int] = self.get_vocab()
        self.id_to_char: dict[int, str] = {i: c for c, i in self.char_to_id.items()}

    # The data pipeline's per-string fast path, shared with the slow class.
    encode_chars = CharTokenizer.encode_chars
    first_unknown = staticmethod(CharTokenizer.first_unknown)

    @classmethod
    def from_corpus(
        cls, text: str | Iterable[str], save_directory: str | None = None, **kwargs
    ) -> CharTokenizerFast:
        """The vocabulary of [`CharTokenizer.from_corpus`] (PAD, MASK, the sorted characters of `text`)."""
        slow = CharTokenizer.from_corpus(text, save_directory)
        return cls(vocab_file=slow.vocab_file_path, **kwargs)

    def _encode_plus(self, *args, **kwargs):
        try:
            return super()._encode_plus(*args, **kwargs)
        except Exception as err:
            if self.unknown_char != "error" or "Missing" not in str(err):
                raise
        text = args[0] if args else kwargs.get("text")
        for piece in [text] if isinstance(text, str) else text:
            CharTokenizer.first_unknown(piece, self.get_vocab())
        raise UnknownCharacterError("a character is not in the vocabulary")

    def _save_pretrained(self, save_directory, file_names, legacy_format=None, filename_prefix=None):
        """`tokenizer.json` (the base class) and `vocab.json`, so the slow class still loads the folder."""
        file_names = super()._save_pretrained(save_directory, file_names, legacy_format, filename_prefix)
        return file_names + self.save_vocabulary(str(save_directory), filename_prefix)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        """`vocab.json` for the slow class."""
        name = (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILES_NAMES["vocab_file"]
        path = os.path.join(save_directory, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(sorted(self.get_vocab().items(), key=lambda kv: kv[1])), f, ensure_ascii=False)
        return (path,)


# `save_pretrained` writes `auto_map` into tokenizer_config.json and copies this file, so a saved
# folder's tokenizer loads with `trust_remote_code=True` where hfmodels is not installed.
CharTokenizer.register_for_auto_class("AutoTokenizer")
CharTokenizerFast.register_for_auto_class("AutoTokenizer")

__all__ = [
    "CharTokenizer",
    "CharTokenizerFast",
    "UnknownCharacterError",
    "PAD_CHAR",
    "MASK_CHAR",
    "char_backend",
    "read_vocab_file",
]
