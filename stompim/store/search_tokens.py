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

Each indexed message also carries one token naming its conversation, "zc<id>" (text
never makes a token starting "zc"), so a query can require "one of the user's
conversations" inside the index: InnoDB intersects the keyword's postings with those of
a few conversations instead of joining every message holding a common word.

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
    "CONVERSATION_PREFIX",
    "MAX_SCOPE_TOKENS",
    "PREFIX",
    "boolean_query",
    "token_patterns",
    "tokens",
]

PREFIX = "zz"
CONVERSATION_PREFIX = "zc"
MAX_SCOPE_TOKENS = 200
"""More conversations than this in a scope: the index query names none (the SQL filter
still limits the results)."""
MAX_WORD = 80  # InnoDB ignores tokens above 84 characters

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
    the conversation's token."""
    out: list[str] = []
    for cjk, run in _runs(text):
        if cjk:
            out.extend(PREFIX + pair for pair in _pairs(run))
        else:
            out.append(PREFIX + run[:MAX_WORD])
    if out and conversation_id is not None:
        out.append(f"{CONVERSATION_PREFIX}{conversation_id}")
    return " ".join(out)


def boolean_query(
    keyword: str, conversation_ids: list[int] | None = None
) -> tuple[str, list[str]] | None:
    """(`MATCH ... AGAINST (? IN BOOLEAN MODE)` text, CJK runs to verify as substrings)
    for `keyword`, limited to `conversation_ids` when given (and not too many); None
    when the index cannot answer it (no word at all, or a one-character CJK run)."""
    terms: list[str] = []
    verify: list[str] = []
    for cjk, run in _runs(keyword):
        if cjk:
            if len(run) < 2:
                return None
            terms.extend("+" + PREFIX + pair for pair in dict.fromkeys(_pairs(run)))
            if len(run) > 2:
                verify.append(run)
        else:
            terms.append(f"+{PREFIX}{run[:MAX_WORD]}*")
    if not terms:
        return None
    if conversation_ids and len(conversation_ids) <= MAX_SCOPE_TOKENS:
        terms.append("+(" + " ".join(f"{CONVERSATION_PREFIX}{c}" for c in conversation_ids)
                     + ")")
    return " ".join(terms), verify


def token_patterns(keyword: str) -> list[str]:
    """LIKE patterns (no escapes needed: tokens hold letters and digits only) that
    `" " + tokens + " "` of a message matches exactly when `boolean_query(keyword)`
    would: a word start per Latin word, a whole token per CJK pair. For checking a few
    candidate rows without the index (stompim.store.search's recent window)."""
    patterns: list[str] = []
    for cjk, run in _runs(keyword):
        if cjk:
            patterns.extend(f"% {PREFIX}{pair} %" for pair in dict.fromkeys(_pairs(run)))
        else:
            patterns.append(f"% {PREFIX}{run[:MAX_WORD]}%")
    return patterns
