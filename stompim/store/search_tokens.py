"""Words of a text for the MariaDB/MySQL full-text index, made in Python.

Why: MySQL's `ngram` full-text parser, which splits Chinese and Japanese into
two-character tokens, does not exist in MariaDB (10.11 here), and InnoDB's own parser
takes a whole run of CJK characters as one word, too long to be found by a part of it.
So stompim hands InnoDB text it can index as it is (`tokens`), and queries it the
same way (`boolean_query`):

* the text is NFKC-normalised and case-folded;
* a run of letters/digits of other scripts is one word ("hello", "2024");
* a run of CJK characters (Han, kana, Hangul) becomes its overlapping pairs
  ("你好吗" -> "你好", "好吗"), a run of one character that character: what MySQL's
  ngram parser with ngram_token_size = 2 does;
* every token gets the prefix "zz", so no token is shorter than InnoDB's minimum
  token size (3) and none is an InnoDB stopword ("zzthe" is not "the").

Each word of an indexed message is there twice: as it is ("zzhello") and qualified by
its conversation ("q12zzhello"). A query over a user's conversations asks for the
qualified forms (`+(q12zzhel* q31zzhel*)`), whose postings hold only those
conversations' messages: the index then costs what the user's own matches cost, not
what the word costs over every conversation (a common word is in most of the table).
Past MAX_SCOPE_TOKENS conversations the plain forms are asked for instead.

A keyword matches a message when each of its Latin words starts a word of the message
(`+zzhel*`) and each pair of each of its CJK runs is in it (`+zz会议 +zz议纪`); pairs
are required, not a phrase (InnoDB checks a phrase by re-reading each candidate
document, slow for common words), so runs of 3+ characters come back in `verify` for
the caller to check as substrings. A keyword whose CJK run is a single character cannot
be found through pairs: `boolean_query` returns None and the caller scans instead.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "MAX_SCOPE_TOKENS",
    "PREFIX",
    "boolean_query",
    "token_patterns",
    "tokens",
]

PREFIX = "zz"
MAX_SCOPE_TOKENS = 100
"""More conversations than this in a scope: the query asks for the plain forms (the SQL
filter still limits the results to the scope)."""
MAX_WORD = 60  # InnoDB ignores tokens above 84 characters; "q<id>zz" comes on top

_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"  # Hangul
    "\U00020000-\U0003134f"  # Han extensions
)
_RUN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _runs(text: str) -> list[tuple[bool, str]]:
    """(is_cjk, run) in order."""
    return [(bool(m.group(1)), m.group(0)) for m in _RUN.finditer(_normal(text))]


def _pairs(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i:i + 2] for i in range(len(run) - 1)]


def tokens(text: str, conversation_id: int | None = None) -> str:
    """The indexed form of `text`: space-separated prefixed tokens, in text order, then
    the same qualified by `conversation_id` when given."""
    out: list[str] = []
    for cjk, run in _runs(text):
        if cjk:
            out.extend(PREFIX + pair for pair in _pairs(run))
        else:
            out.append(PREFIX + run[:MAX_WORD])
    if conversation_id is not None:
        out += [f"q{conversation_id}{token}" for token in out]
    return " ".join(out)


def boolean_query(
    keyword: str, conversation_ids: list[int] | None = None
) -> tuple[str, list[str]] | None:
    """(`MATCH ... AGAINST (? IN BOOLEAN MODE)` text, CJK runs to verify as substrings)
    for `keyword`, limited to `conversation_ids` when given (and not too many); None
    when the index cannot answer it (no word at all, or a one-character CJK run)."""
    words: list[str] = []
    verify: list[str] = []
    for cjk, run in _runs(keyword):
        if cjk:
            if len(run) < 2:
                return None
            words.extend(PREFIX + pair for pair in dict.fromkeys(_pairs(run)))
            if len(run) > 2:
                verify.append(run)
        else:
            words.append(f"{PREFIX}{run[:MAX_WORD]}*")
    if not words:
        return None
    if conversation_ids and len(conversation_ids) <= MAX_SCOPE_TOKENS:
        terms = ["+(" + " ".join(f"q{c}{w}" for c in conversation_ids) + ")" for w in words]
    else:
        terms = ["+" + w for w in words]
    return " ".join(terms), verify


def token_patterns(keyword: str) -> list[str]:
    """LIKE patterns (no escapes needed: tokens hold letters and digits only) that
    `" " + tokens + " "` of a message matches exactly when `boolean_query(keyword)`
    would: a word start per Latin word, a whole token per CJK pair. For checking a few
    candidate rows without the index (stompim.store.search's recent window); the plain
    forms come first in `tokens`, so a match is never a qualified form."""
    patterns: list[str] = []
    for cjk, run in _runs(keyword):
        if cjk:
            patterns.extend(f"% {PREFIX}{pair} %" for pair in dict.fromkeys(_pairs(run)))
        else:
            patterns.append(f"% {PREFIX}{run[:MAX_WORD]}%")
    return patterns
