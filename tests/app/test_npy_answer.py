"""POST /predict answers an `.npy` file when `Accept` prefers `application/x-npy` (Werkzeug's
`best_match` semantics), with the same values as the JSON answer; JSON otherwise, and every
error JSON whatever `Accept` says. Each request goes through both paths: the fast path
(`app.wsgi_app`) and Flask (`app.wsgi_app.flask`)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header
from werkzeug.test import Client

from app import npy_answer
from tests.app.conftest import npy

NPY = "application/x-npy"
JSON = "application/json"
PACKED = "application/octet-stream"


def _clients(app: Flask) -> list[Client]:
    return [Client(app.wsgi_app), Client(app.wsgi_app.flask)]  # type: ignore[attr-defined]


def _load(body: bytes) -> Any:
    return np.load(io.BytesIO(body), allow_pickle=False)


@pytest.fixture(scope="module")
def rows(digits_data: Any) -> Any:
    return digits_data[0][:64].astype("<f4")


def test_the_npy_answer_holds_the_json_answers_values_for_every_input_type(
    app: Flask, rows: Any, digits_data: Any
) -> None:
    n_classes = 10
    for client in _clients(app):
        want = client.post("/predict", json={"instances": rows.tolist()}).get_json()
        for body, media in [(npy(rows), NPY), (rows.tobytes(), PACKED)]:
            response = client.post(
                "/predict", data=body, content_type=media, headers={"Accept": NPY}
            )
            assert response.status_code == 200
            assert response.headers["Content-Type"] == NPY
            assert response.headers["X-Model-Name"] == "digits"
            assert response.headers["X-Model-Version"] == "3"
            answer = _load(response.get_data())
            assert answer.dtype == np.dtype(
                [("label", "<i8"), ("probabilities", "<f4", (n_classes,))]
            )
            assert answer.shape == (64,)
            assert answer["label"].tolist() == want["predictions"]
            assert answer["label"][:5].tolist() == digits_data[1][:5].tolist()
            # JSON's floats are the float32 values, written shortest: they read back exactly.
            json_probabilities = np.array(want["probabilities"], dtype=np.float32)
            np.testing.assert_array_equal(answer["probabilities"], json_probabilities)
        # JSON in, .npy out: the same bytes as .npy in, .npy out
        from_json = client.post(
            "/predict", json={"instances": rows.tolist()}, headers={"Accept": NPY}
        )
        from_npy = client.post(
            "/predict", data=npy(rows), content_type=NPY, headers={"Accept": NPY}
        )
        assert from_json.get_data() == from_npy.get_data()


def test_the_npy_answer_is_what_numpy_save_writes(app: Flask, rows: Any) -> None:
    for count in (1, 3, 64):
        for client in _clients(app):
            body = client.post(
                "/predict", data=npy(rows[:count]), content_type=NPY, headers={"Accept": NPY}
            ).get_data()
            answer = _load(body)
            assert answer.flags.c_contiguous
            assert body == npy(answer)  # version 1.0, the same header and padding
            assert body[6:8] == b"\x01\x00"
    # one row without a batch dimension is a batch of one
    one = Client(app.wsgi_app).post(
        "/predict", data=npy(rows[0]), content_type=NPY, headers={"Accept": NPY}
    )
    assert _load(one.get_data()).shape == (1,)


def test_encode_makes_each_header_once_and_keeps_the_caches_bounded() -> None:
    labels = np.arange(3, dtype=np.int64)
    probabilities = np.full((3, 4), 0.25, dtype=np.float32)
    npy_answer._headers.clear()
    first = npy_answer.encode(labels, probabilities)
    assert list(npy_answer._headers) == [(3, 4)]
    assert npy_answer.encode(labels, probabilities) == first
    structured = np.empty(3, npy_answer.answer_dtype(4))
    structured["label"], structured["probabilities"] = labels, probabilities
    assert first == npy(structured)
    for count in range(1, npy_answer.HEADER_CACHE_SIZE + 50):
        npy_answer._npy_header(count, 4)
        assert len(npy_answer._headers) <= npy_answer.HEADER_CACHE_SIZE
    assert npy_answer.encode(labels, probabilities) == first


@pytest.mark.parametrize("n_classes", [1, 10, 257])
def test_encode_is_numpy_save_for_every_row_count_and_little_endian(n_classes: int) -> None:
    """Every batch size up to MAX_BATCH's default: numpy.save's bytes (version 1.0, header
    padded to 64 bytes with its newline); big-endian outputs are written little-endian."""
    rng = np.random.default_rng(n_classes)
    for rows in range(1, 1025):
        labels = rng.integers(0, n_classes, rows, dtype=np.int64)
        probabilities = rng.random((rows, n_classes), dtype=np.float32)
        body = npy_answer.encode(labels, probabilities)
        structured = np.empty(rows, npy_answer.answer_dtype(n_classes))
        structured["label"], structured["probabilities"] = labels, probabilities
        assert body == npy(structured), rows
        header_length = int.from_bytes(body[8:10], "little")
        assert body[:8] == b"\x93NUMPY\x01\x00"
        assert (10 + header_length) % 64 == 0 and body[9 + header_length] == ord("\n")
        if rows in (1, 1024):
            swapped = npy_answer.encode(labels.astype(">i8"), probabilities.astype(">f4"))
            assert swapped == body
            loaded = _load(body)
            assert loaded["label"].tolist() == labels.tolist()
            np.testing.assert_array_equal(loaded["probabilities"], probabilities)
            assert loaded["probabilities"].shape == (rows, n_classes)


# --- Accept ---------------------------------------------------------------------------------------

ACCEPTS = [
    (None, JSON),
    ("", JSON),
    ("*/*", JSON),
    (JSON, JSON),
    (NPY, NPY),
    ("APPLICATION/X-NPY", NPY),
    ("application/x-npy;q=0", JSON),  # not acceptable: JSON, not 406
    ("application/x-npy;q=0, */*", JSON),
    ("application/x-npy;q=0.0, application/json;q=0", JSON),
    ("application/x-npy, application/json", JSON),  # a tie goes to JSON
    ("application/json, application/x-npy", JSON),
    ("application/x-npy, application/json;q=0.9", NPY),
    ("application/json;q=0.5, application/x-npy;q=0.6", NPY),
    ("application/x-npy;q=0.9, */*;q=0.1", NPY),
    ("application/*", JSON),
    ("application/*, application/x-npy", NPY),  # more specific, same quality
    ("text/html", JSON),  # neither acceptable: JSON, as before (no 406)
    ("application/x-npy;q=abc", JSON),
    ("application/x-npy;q=1.5", JSON),
    ("application/x-npy;v=2", JSON),
    ("application/x-npy ; q=1", NPY),
    (",,,;;;", JSON),
    ("x" * 10_000, JSON),
    ("application/x-npy, " + "a/b;q=0.5, " * 800, NPY),  # long: parsed, not cached
    ("application/x-npy\t", NPY),
    ("application/x-npy\u00e9", JSON),
]


@pytest.mark.parametrize(("accept", "answer"), ACCEPTS)
def test_accept_picks_the_answer_as_werkzeug_does_on_both_paths(
    app: Flask, accept: str | None, answer: str, rows: Any
) -> None:
    assert (
        parse_accept_header(accept, MIMEAccept).best_match(npy_answer.OFFERED) or JSON
    ) == answer
    headers = {} if accept is None else {"Accept": accept}
    for client in _clients(app):
        for _ in range(2):  # the second time from the fast path's cache
            response = client.post(
                "/predict", data=npy(rows[:2]), content_type=NPY, headers=headers
            )
            assert response.status_code == 200
            assert response.mimetype == answer
            if answer == JSON:
                assert "X-Model-Name" not in response.headers
                assert response.get_json()["model"] == {"name": "digits", "version": 3}
            else:
                assert _load(response.get_data()).shape == (2,)


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "application/x-npy",
                    "application/json",
                    "application/*",
                    "*/*",
                    "text/*",
                    "*/json",
                    "application/X-NPY",
                    "application/x-npy;v=1",
                    "a",
                    "",
                    "/",
                    ";",
                ]
            ),
            st.one_of(st.none(), st.sampled_from(["0", "0.5", "1", "0.001", "1.0", "2", "x", ""])),
            st.sampled_from([",", ", ", " ,", ",\t", ";,"]),
        ),
        max_size=5,
    )
)
def test_wants_npy_is_werkzeugs_decision(items: list[tuple[str, str | None, str]]) -> None:
    accept = "".join(
        media + ("" if q is None else f";q={q}") + separator for media, q, separator in items
    )
    want = parse_accept_header(accept, MIMEAccept).best_match(npy_answer.OFFERED) == NPY
    assert npy_answer.negotiate(accept) is want
    assert npy_answer.wants_npy(accept) is want
    assert npy_answer.wants_npy(accept) is want  # cached


def test_the_accept_cache_is_bounded_in_entries_and_key_length() -> None:
    for number in range(5 * npy_answer.ACCEPT_CACHE_SIZE):
        accept = f"application/x-npy;q=0.{number % 9 + 1}, application/json;q=0.{number}"
        assert npy_answer.wants_npy(accept) is npy_answer.negotiate(accept)
        assert len(npy_answer._accepts) <= npy_answer.ACCEPT_CACHE_SIZE
        assert all(npy_answer._accepts[common] is not None for common in ("*/*", JSON, NPY))
    long = NPY + ", " + "a/b, " * npy_answer.ACCEPT_CACHE_KEY_MAX
    assert npy_answer.wants_npy(long) is True
    assert long not in npy_answer._accepts


# --- errors, headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "media", "status"),
    [
        (npy(np.zeros((2, 63), "<f4")), NPY, 400),
        (b'{"instances": []}', JSON, 400),
        (b"\0" * 5, PACKED, 400),
        (npy(np.zeros((1025, 64), "<f4")), NPY, 413),
        (b"<rows/>", "text/xml", 415),
        (npy(np.full((1, 64), 3.0e38, "<f4")), NPY, 422),
    ],
)
def test_errors_are_json_whatever_accept_says(
    app: Flask, body: bytes, media: str, status: int
) -> None:
    for client in _clients(app):
        for accept in (NPY, "application/x-npy, application/json;q=0", "application/x-npy;q=0"):
            response = client.post(
                "/predict", data=body, content_type=media, headers={"Accept": accept}
            )
            assert response.status_code == status
            assert response.mimetype == JSON
            assert response.get_json()["error"]["status"] == status
            assert "X-Model-Name" not in response.headers
    wrong = Client(app.wsgi_app).get("/predict", headers={"Accept": NPY})
    assert (wrong.status_code, wrong.mimetype) == (405, JSON)


def test_score_answers_json_whatever_accept_says(app: Flask) -> None:
    for client in _clients(app):
        response = client.post("/score", json={"input": []}, headers={"Accept": NPY})
        assert (response.status_code, response.mimetype) == (400, JSON)


def test_model_headers_are_left_out_when_unset(make_app: Callable[..., Flask], rows: Any) -> None:
    body = npy(rows[:1])
    for changes, want in [
        ({"MODEL_NAME": "", "MODEL_VERSION": ""}, {}),
        ({"MODEL_VERSION": ""}, {"X-Model-Name": "digits"}),
        ({"MODEL_NAME": "digits_v2-x"}, {"X-Model-Name": "digits_v2-x", "X-Model-Version": "3"}),
    ]:
        app = make_app(**changes)
        for client in _clients(app):
            response = client.post("/predict", data=body, content_type=NPY, headers={"Accept": NPY})
            assert response.status_code == 200
            got = {k: v for k, v in response.headers.items() if k.startswith("X-Model-")}
            assert got == want
            json_model = client.post("/predict", data=body, content_type=NPY).get_json()["model"]
            if "X-Model-Name" in got:
                assert got["X-Model-Name"] == json_model["name"]
            else:
                assert json_model["name"] is None


_MEDIA = st.sampled_from(
    [
        *("application/x-npy", "application/json", "APPLICATION/X-Npy", "Application/JSON"),
        *("*/*", "application/*", "*/json", "*/x-npy", "text/*", "application/x-npy2", "x-npy"),
        *("*", ""),
    ]
)
_Q = st.sampled_from(
    [
        *("0", "1", "1.0", "1.000", "1.0001", "0.0001", "0.00001", "0.", ".5", "00.5", "0.5 "),
        *("-0", "1e0", "nan", "inf", '"0.5"', "0,5", "\u00bd", "\u0661", ""),
    ]
)


@settings(max_examples=400, deadline=None, database=None)
@given(
    st.one_of(
        # hostile bytes as granian could hand them over (latin-1 text) and arbitrary structure
        st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=300),
        st.lists(
            st.tuples(
                _MEDIA,
                st.lists(
                    st.tuples(st.sampled_from(["q", "Q", " q", "q ", "v", "level"]), _Q),
                    max_size=3,
                ),
                st.sampled_from([",", ", ", " , ", ",\t", "\t,", ",,", ";,"]),
            ),
            max_size=6,
        ).map(
            lambda items: "".join(
                media + "".join(f";{key}={value}" for key, value in params) + separator
                for media, params, separator in items
            )
        ),
    )
)
def test_wants_npy_is_werkzeugs_decision_on_any_value(accept: str) -> None:
    """Werkzeug's own answer (what the Flask view asks), for any text: case, whitespace, q-values
    Werkzeug takes or skips, duplicates, parameters, latin-1 bytes; cached or not."""
    want = parse_accept_header(accept, MIMEAccept).best_match(npy_answer.OFFERED) == NPY
    for _ in range(2):
        assert npy_answer.wants_npy(accept) is want


def test_the_accept_cache_answers_right_under_threads() -> None:
    """SERVER_THREADS > 1: threads filling and clearing the cache at once still get Werkzeug's
    decision every time."""
    import threading

    values = [
        f"application/x-npy;q=0.{n % 9 + 1}, application/json;q=0.{n % 7}" for n in range(300)
    ]
    wants = {value: npy_answer.negotiate(value) for value in values}
    wrong: list[str] = []

    def work(offset: int) -> None:
        for round_ in range(20):
            for value in values[offset:] + values[:offset]:
                if npy_answer.wants_npy(value) is not wants[value]:
                    wrong.append(value)
            if round_ % 5 == 0:
                for common, decided in (("*/*", False), (JSON, False), (NPY, True)):
                    if npy_answer.wants_npy(common) is not decided:
                        wrong.append(common)

    threads = [threading.Thread(target=work, args=(n * 37,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    # the size check and the insert are not one step: each other thread may add one entry more
    assert len(npy_answer._accepts) <= npy_answer.ACCEPT_CACHE_SIZE + len(threads) - 1
