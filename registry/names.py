"""What a name may contain, and which names look alike.

The names people pick between (projects and their aliases, IT systems, teams, people's display
names, rotations and their layers) are what a look-alike would borrow: "People" written with a
Cyrillic о, or with a right-to-left override that shows one text and stores another. So:

- **Refused** (`validate_name`, the validator of every `NameField`): control characters
  (Unicode categories Cc), format characters (Cf: zero-width space, joiner and non-joiner, word
  joiner, soft hyphen, byte-order mark, tag characters), the bidirectional controls (U+061C,
  U+200E/200F, U+202A–202E, U+2066–2069), every other *default-ignorable* code point (those
  renderers draw as nothing: Hangul fillers, variation selectors, …, as ICU's Unicode data says),
  lone surrogates, private-use and unassigned code points, and line and paragraph separators.
  The message names the character: "Contains U+202E RIGHT-TO-LEFT OVERRIDE, an invisible control
  character." Zero-width joiners are refused too, although some scripts (Persian, Indic) and emoji
  sequences use them: a name of a registry entry can do without them, a look-alike cannot.
- **Normalised** to NFC (`NameField.to_python`, so on every `full_clean`): the same letters typed
  as one code point or as a letter and a combining accent become the same string, and the unique
  constraints see them as one. Not NFKC: it rewrites what people legitimately write (², ﬁ,
  half-width katakana) and would still let a Cyrillic "Реорle" through; look-alikes are the
  skeleton's work.
- **Compared by skeleton** (`name_skeleton`, stored beside the name by `SkeletonField`, indexed):
  Unicode's confusable skeleton (UTS #39) from ICU's SpoofChecker, case-folded, so "Pеоple"
  (Cyrillic), "Ρeople" (Greek), "Ｐｅｏｐｌｅ" (full-width) and "Peop1e" share People's skeleton
  and "Péople", "Peoples" or "人事" do not. A new or renamed project, IT system or team whose
  skeleton is another's is saved, and IT is warned (see `registry.services`).

ICU (through `pyicu-wheels`, which bundles it) rather than a table of our own: it is Unicode's
reference implementation of UTS #39, kept in step with each Unicode release.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import icu
from django.core.exceptions import ValidationError
from django.db import models

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible control character",
    "Cs": "a lone surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
_SPOOF_CHECKER = icu.SpoofChecker()


def _refused_as(character: str) -> str | None:
    what = _REFUSED_CATEGORIES.get(unicodedata.category(character))
    if what is None and (
        character in BIDI_CONTROLS
        or icu.Char.hasBinaryProperty(character, icu.UProperty.DEFAULT_IGNORABLE_CODE_POINT)
    ):
        what = "an invisible control character"
    return what


def character_label(character: str) -> str:
    """U+202E RIGHT-TO-LEFT OVERRIDE; U+0007 <control-0007> for those without a name."""
    name = unicodedata.name(character, "") or icu.Char.charName(
        character, icu.UCharNameChoice.EXTENDED_CHAR_NAME
    )
    return f"U+{ord(character):04X} {name}".rstrip()


def name_problem(value: str) -> str | None:
    """Why `value` may not be a name (its first refused character), or None."""
    for character in value:
        what = _refused_as(character)
        if what is not None:
            return f"Contains {character_label(character)}, {what}."
    return None


def validate_name(value: Any) -> None:
    if not isinstance(value, str):
        return
    problem = name_problem(value)
    if problem is not None:
        raise ValidationError(problem, code="invisible_character")


def normalized_name(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def name_skeleton(value: str) -> str:
    """Equal for names that look alike: UTS #39's skeleton of the NFC name, case-folded."""
    return _SPOOF_CHECKER.getSkeleton(0, normalized_name(value)).casefold()


class NameField(models.CharField):
    """A name people pick between: refused with an invisible or control character, kept NFC."""

    default_validators = [validate_name]

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        return normalized_name(value) if isinstance(value, str) else value


class SkeletonField(models.TextField):
    """The skeleton of the field `of`, computed on every save (bulk ones included: Django calls
    `pre_save` for each row it inserts)."""

    def __init__(self, *args: Any, of: str = "name", **kwargs: Any) -> None:
        self.of = of
        kwargs["editable"] = False
        kwargs.setdefault("default", "")
        kwargs.setdefault("db_index", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list, dict]:
        name, path, args, kwargs = super().deconstruct()
        kwargs["of"] = self.of
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        value = name_skeleton(getattr(model_instance, self.of) or "")
        setattr(model_instance, self.attname, value)
        return value
