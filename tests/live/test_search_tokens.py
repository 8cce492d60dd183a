"""The Python-made tokens of the MariaDB full-text index (stompim.store.search_tokens)."""

from __future__ import annotations

from stompim.store.search_tokens import MAX_SCOPE_TOKENS, boolean_query, tokens


def test_tokens_split_scripts_into_words_and_pairs() -> None:
    full_width = "\uff21\uff22\uff23"  # full-width ABC: NFKC makes it ABC
    assert tokens(f"Hello, 你好吗? The {full_width} 2024年 한국어", 7) == (
        "zzhello zz你好 zz好吗 zzthe zzabc zz2024 zz年 zz한국 zz국어 "
        "q7zzhello q7zz你好 q7zz好吗 q7zzthe q7zzabc q7zz2024 q7zz年 q7zz한국 q7zz국어")
    assert tokens("?!", 7) == ""
    assert tokens("a_b") == "zza zzb"


def test_queries_require_every_word_start_and_pair() -> None:
    assert boolean_query("会议纪要 Rep") == (
        "+zz会议 +zz议纪 +zz纪要 +zzrep*", ["会议纪要"])
    assert boolean_query("你好 ab", [3, 9]) == ("+(q3zz你好 q9zz你好) +(q3zzab* q9zzab*)", [])
    many = list(range(1, MAX_SCOPE_TOKENS + 2))
    assert boolean_query("abc", many) == ("+zzabc*", [])
    # operators of the boolean syntax never get through; one CJK character needs a scan
    assert boolean_query('+"x" -y*') == ("+zzx* +zzy*", [])
    assert boolean_query("好") is None
    assert boolean_query("--") is None
