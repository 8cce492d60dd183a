"""The edge's types and models without a server: Jackson-like coercion, 64-bit ranges,
refusal messages naming the field, paging parameters."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field

from stompim.http.fields import INT64_MAX, Bounded, CommaSeparated, Flag, Id, Int64, Text
from stompim.http.inputs import refusal
from stompim.http.models.base import Body
from stompim.http.models.friend import SendFriendRequest
from stompim.http.models.group import GroupCreation, GroupUpdate
from stompim.http.models.user import ProfileUpdate
from stompim.http.paging import PageQuery
from stompim.im.errors import ImError


class Sample(Body):
    user_id: Id
    count: Int64 | None = None
    gender: Annotated[int, Bounded(0, 2)] | None = None
    name: Text | None = None
    flag: Flag | None = None
    ids: list[Id] | None = Field(None, max_length=3, fail_fast=True)


class Csv(Body):
    ids: Annotated[list[Id], CommaSeparated()] = Field(default_factory=list, max_length=3)


def refused(model: type[Body], raw: bytes) -> str:
    """The refusal message the edge gives for `raw`."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        model.model_validate_json(raw)
    error = refusal(info.value, where="request body")
    assert isinstance(error, ImError) and error.code == 9001 and error.status == 400
    return error.message


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"userId": 7}', 7),
        (b'{"userId": "7"}', 7),
        (b'{"userId": " 7 "}', 7),
        (b'{"userId": 7.0}', 7),  # an integer to JSON Schema and to Jackson
        (b'{"userId": "+7"}', 7),
        (b'{"userId": 9223372036854775807}', INT64_MAX),
        (b'{"userId": "9223372036854775807"}', INT64_MAX),
    ],
)
def test_ids_accept_integers_and_numeric_strings(raw: bytes, value: int) -> None:
    assert Sample.model_validate_json(raw).user_id == value


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        (b"0", "userId: must be an integer ≥ 1"),
        (b"-1", "userId: must be an integer ≥ 1"),
        (b"true", "userId: must be an integer ≥ 1"),
        (b"1.5", "userId: must be an integer ≥ 1"),
        (b'"1.0"', "userId: must be an integer ≥ 1"),
        (b'"1e3"', "userId: must be an integer ≥ 1"),
        (b'"\xc2\xb2"', "userId: must be an integer ≥ 1"),  # "²": a digit to str.isdigit
        (b'"\xd9\xa3"', "userId: must be an integer ≥ 1"),  # Arabic-Indic 3: int() takes it
        (b"[]", "userId: must be an integer ≥ 1"),
        (b"{}", "userId: must be an integer ≥ 1"),
        (b'""', "userId: must be an integer ≥ 1"),
        (b"null", "userId: is required"),
        (b"9223372036854775808", f"userId: must be an integer ≤ {INT64_MAX}"),
        (b"1e30", f"userId: must be an integer ≤ {INT64_MAX}"),
        (b"1" + b"0" * 29, f"userId: must be an integer ≤ {INT64_MAX}"),
        (b'"' + b"9" * 30 + b'"', f"userId: must be an integer ≤ {INT64_MAX}"),
        (b'"' + b"9" * 100_000 + b'"', f"userId: must be an integer ≤ {INT64_MAX}"),
        (b"NaN", "userId: must be an integer ≥ 1"),
        (b"Infinity", "userId: must be an integer ≥ 1"),
    ],
)
def test_ids_refuse_everything_else_naming_the_field(literal: bytes, message: str) -> None:
    assert refused(Sample, b'{"userId": ' + literal + b"}") == message


def test_other_bounds_and_signed_range() -> None:
    assert Sample.model_validate_json(b'{"userId": 1, "count": -9223372036854775808}').count == (
        -(2**63)
    )
    assert refused(Sample, b'{"userId": 1, "count": -9223372036854775809}') == (
        "count: must be a 64-bit integer"
    )
    assert refused(Sample, b'{"userId": 1, "gender": 3}') == (
        "gender: must be an integer from 0 to 2"
    )
    with pytest.raises(ValueError):
        Bounded(0, 2**63)


def test_text_takes_numbers_and_refuses_structures() -> None:
    assert Sample.model_validate_json(b'{"userId": 1, "name": 13800000001}').name == "13800000001"
    assert Sample.model_validate_json(b'{"userId": 1, "name": 1.5}').name == "1.5"
    for literal in (b"true", b"[]", b'{"a": 1}'):
        assert refused(Sample, b'{"userId": 1, "name": ' + literal + b"}") == (
            "name: must be a string"
        )


def test_flag_takes_booleans_and_their_strings_only() -> None:
    assert Sample.model_validate_json(b'{"userId": 1, "flag": "TRUE"}').flag is True
    assert Sample.model_validate_json(b'{"userId": 1, "flag": false}').flag is False
    for literal in (b"1", b"0", b'"yes"', b"[]"):
        assert refused(Sample, b'{"userId": 1, "flag": ' + literal + b"}") == (
            "flag: must be true or false"
        )


def test_lists_bound_their_length_and_name_the_item() -> None:
    assert Sample.model_validate_json(b'{"userId": 1, "ids": [1, "2"]}').ids == [1, 2]
    assert refused(Sample, b'{"userId": 1, "ids": [1, 0]}') == "ids[1]: must be an integer ≥ 1"
    assert refused(Sample, b'{"userId": 1, "ids": [1, 2, 3, 4]}') == (
        "ids: must have at most 3 items"
    )
    assert refused(Sample, b'{"userId": 1, "ids": "1,2"}') == "ids: must be a JSON array"


def test_comma_separated_ids() -> None:
    assert Csv.model_validate({"ids": "1,2, 3"}).ids == [1, 2, 3]
    assert Csv.model_validate({"ids": ["1", "2,3"]}).ids == [1, 2, 3]
    assert Csv.model_validate({"ids": ""}).ids == []
    assert Csv.model_validate({}).ids == []


def test_body_level_refusals() -> None:
    assert refused(Sample, b"[1]") == "request body: must be a JSON object"
    assert refused(Sample, b'"x"') == "request body: must be a JSON object"
    assert refused(Sample, b"{}") == "userId: is required"
    assert refused(Sample, b"{nope").startswith("request body: malformed JSON (")
    assert refused(Sample, b'{"userId": "\xff"}').startswith("request body: malformed JSON (")
    assert refused(Sample, b'{"userId": "\\ud800"}').startswith("request body: malformed JSON (")
    deep = b'{"x": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    assert "malformed JSON (recursion limit" in refused(Sample, deep)
    three = refused(Sample, b'{"userId": 0, "count": "x", "flag": 2, "name": []}')
    assert three == (
        "userId: must be an integer ≥ 1; count: must be a 64-bit integer; "
        "name: must be a string"
    )


def test_unknown_properties_are_ignored_and_null_is_not_given() -> None:
    body = SendFriendRequest.model_validate_json(
        b'{"toUserId": "5", "message": null, "remark": "x", "extra": {"deep": [1, 2]}}'
    )
    assert (body.to_user_id, body.message) == (5, None)
    update = GroupUpdate.model_validate_json(
        b'{"id": 9, "name": "n", "avatar": null, "allMuted": "false", "memberCount": 4}'
    )
    assert update.given() == {"name": "n", "allMuted": False}


def test_snake_case_names_are_not_the_wire_names() -> None:
    assert refused(SendFriendRequest, b'{"to_user_id": 5}') == "toUserId: is required"


def test_the_whole_user_object_reads_as_a_profile_update() -> None:
    echoed = {
        "id": 3, "username": "alice", "nickname": "Al", "avatar": "", "phone": None,
        "signature": "", "gender": 0, "email": "a@example.com", "region": "",
        "status": 1, "createdAt": 1_700_000_000_000,
    }
    import json

    given = ProfileUpdate.model_validate_json(json.dumps(echoed)).given()
    assert given == {
        "id": 3, "username": "alice", "nickname": "Al", "avatar": "", "signature": "",
        "gender": 0, "email": "a@example.com", "region": "", "status": 1,
    }


def test_group_creation_defaults() -> None:
    body = GroupCreation.model_validate_json(b'{"name": "g", "memberIds": ["2", 3]}')
    assert (body.name, body.member_ids, body.use_whitelist) == ("g", [2, 3], None)


@pytest.mark.parametrize(
    ("params", "window"),
    [
        ({}, (1, 20, 0)),
        ({"current": "3", "size": "10"}, (3, 10, 20)),
        ({"pageNum": "2", "pageSize": "5"}, (2, 5, 5)),
        ({"page": "4", "size": "25"}, (4, 25, 75)),
        ({"current": "2", "pageNum": "2", "page": "2"}, (2, 20, 20)),
        ({"current": "1000000000", "size": "100"}, (1_000_000_000, 100, 99_999_999_900)),
    ],
)
def test_page_query(params: dict[str, str], window: tuple[int, int, int]) -> None:
    query = PageQuery.model_validate(params)
    assert (query.number, query.limit, query.offset) == window


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"size": "0"}, "size: must be an integer from 1 to 100"),
        ({"size": "101"}, "size: must be an integer from 1 to 100"),
        ({"pageSize": "abc"}, "pageSize: must be an integer from 1 to 100"),
        ({"current": "0"}, "current: must be an integer from 1 to 1000000000"),
        ({"pageNum": "-1"}, "pageNum: must be an integer from 1 to 1000000000"),
        ({"page": "9" * 30}, "page: must be an integer from 1 to 1000000000"),
        ({"current": "1", "page": "2"}, "query: paging parameters disagree: current=1, page=2"),
        ({"size": "5", "pageSize": "6"}, "query: paging parameters disagree: size=5, pageSize=6"),
    ],
)
def test_page_query_refusals(params: dict[str, str], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        PageQuery.model_validate(params)
    assert refusal(info.value, where="query").message == message
