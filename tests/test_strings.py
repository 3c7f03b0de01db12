"""recurct._strings' string views, prefix keys and exact check against plain Python."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recurct import _parallel as par
from recurct import _strings
from recurct import kernels as k

# short (inline in a view: up to 12 bytes) and long strings, unicode, empty, over 64 bytes
_ALPHABET = st.sampled_from(["a", "b", "0", "f", "\x00", " ", "é", "\u3000", "💥"])
_TEXT = st.text(_ALPHABET, max_size=6) | st.text(_ALPHABET, min_size=10, max_size=70)
_HEX = st.binary(min_size=32, max_size=32).map(bytes.hex)


def same_as_rows(views, bases, data, codes, rows) -> bool:
    """Whether every string ``r`` equals string ``rows[codes[r]]``, by the exact check."""
    differ = _strings.differing_rows(views, bases, data, codes, rows)
    return differ is not None and differ.size == 0


def _layouts(s: pl.Series) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``s`` as polars' string views and as the copied fallback (older polars or pyarrow)."""
    return [_strings.string_views(s), _strings._offset_views(s)]


def _read(place: tuple[np.ndarray, np.ndarray, np.ndarray], r: int) -> bytes:
    """String ``r`` of a string-views layout, read by the Arrow rule in plain Python."""
    views, bases, data = place
    n = int(views[4 * r])
    if n <= bases[1]:
        a = int(bases[0]) + 16 * r + 4
    else:
        a = int(bases[2 + views[4 * r + 2]]) + int(views[4 * r + 3])
    return bytes(data[a : a + n])


def _variants(values: list[str]) -> list[pl.Series]:
    """The same strings in one chunk, in two chunks, as a slice and as a gather."""
    s = pl.Series(values, dtype=pl.Utf8)
    half = len(values) // 2
    two = pl.concat([s[:half], s[half:]], rechunk=False)
    padded = pl.Series(["x" * 20, *values, "y"], dtype=pl.Utf8)[1 : len(values) + 1]
    perm = np.arange(len(values))[::-1]
    gathered = pl.Series(values[::-1], dtype=pl.Utf8).gather(perm)
    return [s, two, padded, gathered]


@given(st.lists(_TEXT | _HEX, max_size=40))
def test_string_views_hold_every_string(values):
    for s in _variants(values):
        for place in _layouts(s):
            assert place[0].dtype == np.int32 and place[0].size == 4 * len(values)
            assert [_read(place, r) for r in range(len(values))] == [v.encode() for v in values]


def test_string_views_fall_back_to_a_copy(monkeypatch):
    # a polars or pyarrow without string views: the strings are copied, same layout rules
    to_arrow = pl.Series.to_arrow

    def no_views(self, *args, **kwargs):
        if kwargs.get("compat_level") is not None:
            raise NotImplementedError("no string views here")
        return to_arrow(self, *args, **kwargs)

    monkeypatch.setattr(pl.Series, "to_arrow", no_views)
    values = ["", "short", "é" * 40, "0123456789abc"]
    place = _strings.string_views(pl.Series(values))
    assert place[1][1] == -1  # none inline
    assert [_read(place, r) for r in range(4)] == [v.encode() for v in values]


def _first_rows(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Codes in order of first appearance and the first row of each code, in plain Python."""
    first: dict[str, int] = {}
    for i, v in enumerate(values):
        first.setdefault(v, i)
    code = {v: c for c, v in enumerate(first)}
    return np.array([code[v] for v in values], np.int32), np.array(list(first.values()))


@given(
    st.lists(_TEXT | _HEX, min_size=1, max_size=60),
    st.sampled_from([3, 4096]),
    st.sampled_from([8, 20, 40, 61]),
    st.randoms(use_true_random=False),
)
def test_differing_rows_and_prefix_keys_order_as_first_bytes(values, sample_rows, budget, rnd):
    old = _strings.SAMPLE_ROWS
    _strings.SAMPLE_ROWS = sample_rows  # a sample of 3 to 4 strings: often lacks a byte
    try:
        s = pl.Series(values, dtype=pl.Utf8)
        weights = _strings.prefix_weights(s, budget)
        codes, rows = _first_rows(values)
        raw = [values[r].encode() for r in rows]
        for place in _layouts(s):
            assert same_as_rows(*place, codes, rows)
            marked = np.where(np.isin(np.arange(len(values)), rows), -1 - codes, codes)
            assert _strings.differing_rows(*place, marked, rows, marked=True).size == 0
            assert (marked == codes).all()  # the marks are taken off
            if len(rows) > 1:  # rows given another string's code: found, up to ``most``
                wrong = codes.copy()
                for i in {rnd.randrange(len(values)) for _ in range(3)}:
                    wrong[i] = (codes[i] + 1) % len(rows)
                want = [r for r, v in enumerate(values) if v != values[rows[wrong[r]]]]
                for most in (0, 1, len(values)):
                    got = _strings.differing_rows(*place, wrong, rows, most)
                    assert (got is None) if len(want) > most else got.tolist() == want
                assert not same_as_rows(*place, wrong, rows)
            if weights is None:
                continue
            keys = _strings.row_prefix_keys(*place, weights, rows=rows)
            low = min(7, 62 - budget)  # bits the budget leaves for the row (its low bits)
            every = _strings.row_prefix_keys(*place, weights, row_bits=low)
            assert (every is None) == (keys is None)
            if keys is not None:  # the same keys, each above its row
                assert (every >> low).tolist() == keys[codes].tolist()
                mask = (1 << low) - 1
                assert (every & mask).tolist() == [r & mask for r in range(len(values))]
            m = weights.shape[0]
            assert 1 <= m <= _strings.KEY_POSITIONS
            lacks = [  # a byte, or an end, within the first m that has no weight
                any(weights[q, b[q] + 1] < 0 for q in range(min(len(b), m)))
                or (len(b) < m and weights[len(b), 0] < 0)
                for b in raw
            ]
            assert (keys is None) == any(lacks)
            if keys is None:
                continue
            assert ((keys >= 0) & (keys < 2**budget)).all()
            for i, a in enumerate(raw):
                for j, b in enumerate(raw):  # compare as their first m bytes do
                    assert np.sign(keys[i] - keys[j]) == (a[:m] > b[:m]) - (a[:m] < b[:m])
    finally:
        _strings.SAMPLE_ROWS = old


def test_differing_rows_finds_one_byte_changed_anywhere():
    # strings of 1 to 40 bytes, each paired with a copy with one byte changed at every place
    # in turn (the 8-byte words, the last bytes one by one, inline views): each copy is
    # found, and an unchanged copy is not
    values, codes, rows = [], [], []
    for n in range(1, 41):
        base = "".join("abcdefgh"[(n + q) % 8] for q in range(n))
        for q in range(n):
            rows.append(len(values))
            values += [base, base[:q] + "z" + base[q + 1 :], str(base)]
            codes += [len(rows) - 1] * 3
    s = pl.Series(values, dtype=pl.Utf8)
    want = list(range(1, len(values), 3))
    codes, rows = np.array(codes, np.int32), np.array(rows)
    for place in _layouts(s):
        got = _strings.differing_rows(*place, codes, rows, len(values))
        assert got.tolist() == want


@given(st.lists(_TEXT | _HEX, max_size=80, unique=True), st.sampled_from([2, 48]))
def test_string_order_from_prefix_keys(values, small):
    old = _strings._SMALL, _strings.MIN_ROWS, _strings._MAX_TIES
    # small values force the large-tie rounds; with no limit on the ties waiting
    _strings._SMALL, _strings.MIN_ROWS, _strings._MAX_TIES = small, 0, 10**6
    try:
        s = pl.Series(values, dtype=pl.Utf8)
        ib = max(1, (len(values) - 1).bit_length())  # keys above their places' bits
        weights = _strings.prefix_weights(s, 62 - ib)
        place = _strings.string_views(s)
        keys = None if weights is None else _strings.row_prefix_keys(*place, weights, ib)
        prefix = None if keys is None else (keys, weights.shape[0])
        order = _strings.string_order(s, prefix)
        # the same strings as rows of a longer column (repeated, shuffled): their rows in order
        column = values + values[::-1] + ["zz" * 40]
        rows = np.arange(len(values))[::-1] + len(values)
        rows_in_order = _strings.string_order(pl.Series(column, dtype=pl.Utf8), None, rows)
        # column[rows[j]] is values[j]: the same prefix keys, and where each row is in rows
        got = [_strings.string_order(pl.Series(column, dtype=pl.Utf8), p, rows, positions=True)
               for p in (None, prefix)]  # fmt: skip
    finally:
        _strings._SMALL, _strings.MIN_ROWS, _strings._MAX_TIES = old
    assert [values[i] for i in order] == sorted(values, key=str.encode)
    assert [column[r] for r in rows_in_order] == sorted(values, key=str.encode)
    assert set(rows_in_order.tolist()) == set(rows.tolist())
    for in_order, positions in got:
        np.testing.assert_array_equal(in_order, rows_in_order)
        np.testing.assert_array_equal(rows[positions], in_order)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("prefix", [False, True])
def test_hashed_ids_of_every_shape(monkeypatch, threads, prefix):
    # recurct's byte kernels on ids that do not fit byte keys (grouped by their first bytes'
    # keys, or hashed): short and long, over 64 bytes, unicode, empty, many chunks, a slice;
    # the same ids and order as polars'
    import recurct.cumulative as cm

    rng = np.random.default_rng(7)
    pool = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(400)]
    pool += ["", "a", "é", "0" * 12, "0" * 13, "x" * 65, "💥" * 30, "P" + "9" * 70]
    monkeypatch.setattr(_strings, "MIN_ROWS", 0)
    monkeypatch.setattr(cm, "_BYTE_ROWS", 0)
    if not prefix:
        monkeypatch.setattr(cm, "sorted_prefix_codes", lambda s: None)  # the hash path
    monkeypatch.setattr(par, "_GRAIN", 1 if threads == 2 else 10**9)
    for sample_rows, max_runs in ((16, 2000), (4096, 2000), (16, 0)):
        # a sample of 16 lacks bytes: the prefix keys refused; no rounds allowed: polars sorts
        monkeypatch.setattr(_strings, "SAMPLE_ROWS", sample_rows)
        monkeypatch.setattr(_strings, "_MAX_RUNS", max_runs)
        ids = [pool[i] for i in rng.integers(0, len(pool), 3000)]
        s = pl.Series(ids)
        for variant in (s, pl.concat([s[:1000], s[1000:2000], s[2000:]], rechunk=False), s[7:]):
            codes, count, labels, rank = cm._factorise_strings(variant)
            assert labels.equals(variant.unique().sort().alias("patient_id"))
            assert count == labels.len()
            got = labels.gather(codes if rank is None else rank[codes])
            assert got.to_list() == variant.to_list()
    # every string in one hash class: the exact check fails and the caller ranks instead
    import recurct._codes as codes_mod

    def one_class(views, bases, data, row_bits=0):
        return np.arange(views.size // 4, dtype=np.int64)  # hash bits all 0, then the row

    monkeypatch.setattr(codes_mod, "byte_hashes", one_class)
    if not prefix:
        assert cm._factorise_strings(pl.Series(pool)) is None


def test_all_equal_and_one_value():
    for values in (["same" * 20] * 50, ["only"], ["", ""]):
        s = pl.Series(values)
        codes, rows = _first_rows(values)
        weights = _strings.prefix_weights(s, 30)
        for place in _layouts(s):
            assert _strings.differing_rows(*place, codes, rows).size == 0
            if weights is not None:  # (None for empty strings: no position to key)
                keys = _strings.row_prefix_keys(*place, weights, rows=rows)
                assert keys is not None and keys.size == rows.size


@pytest.mark.parametrize("table", [False, True])
def test_few_strings_sharing_hash_bits_get_codes_of_their_own(monkeypatch, table):
    # two strings given the same hash bits (as distinct ids sometimes share the bits kept
    # beside the row number): their rows are split exactly, the prefix keys extended
    import recurct._codes as codes_mod
    import recurct.cumulative as cm

    rng = np.random.default_rng(9)
    pool = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(500)]
    pool[3] = pool[2][:40] + "é" * 5  # a byte the sample of 64 surely lacks: no prefix keys
    ids = [pool[i] for i in rng.integers(0, len(pool), 4000)]
    real = codes_mod.byte_hashes
    values: list[str] = []

    def shared(views, bases, data, row_bits=0):  # equal strings still hash equal
        h = real(views, bases, data, row_bits)
        mask = (1 << row_bits) - 1 if row_bits else 0
        for a, b in ((0, 1), (1, 2), (4, 5)):  # 0, 1 and 2 in one class; 4 and 5 in another
            first = values.index(pool[a])
            rows = np.array([i for i, v in enumerate(values) if v == pool[b]])
            h[rows] = (h[first] & ~mask) | (rows & mask)
        return h

    monkeypatch.setattr(codes_mod, "byte_hashes", shared)
    split, calls = codes_mod._split_codes, []
    monkeypatch.setattr(codes_mod, "_split_codes", lambda *a: calls.append(a[3]) or split(*a))
    monkeypatch.setattr(_strings, "MIN_ROWS", 0)
    monkeypatch.setattr(cm, "_BYTE_ROWS", 0)
    monkeypatch.setattr(cm, "sorted_prefix_codes", lambda s: None)  # the hash path
    if table:
        monkeypatch.setattr(codes_mod, "_SPARE_BITS", 64)
    for sample_rows, chosen in ((64, ids), (4096, [v for v in ids if v != pool[3]])):
        values[:] = chosen
        monkeypatch.setattr(_strings, "SAMPLE_ROWS", sample_rows)
        s = pl.Series(values)
        codes, count, labels, rank = cm._factorise_strings(s)
        assert labels.equals(s.unique().sort().alias("patient_id")) and count == labels.len()
        assert labels.gather(codes if rank is None else rank[codes]).to_list() == values
        if sample_rows == 4096:  # the prefix keys of the split strings were extended
            got = codes_mod.byte_hash_codes(s, 16)
            assert got is not None and got[2] is not None and got[2][0].size == count
    assert calls and all(0 < rows.size < 100 for rows in calls)  # the split path ran


@given(st.lists(_TEXT | _HEX, max_size=80), st.booleans())
def test_hash_codes_number_strings_by_first_row(values, table):
    # grouped by a sort of (hash, row) keys and renumbered, or by a hash table: codes in
    # order of first appearance, the first row of each, as a plain dict gives them
    import recurct._codes as codes_mod

    s = pl.Series(values, dtype=pl.Utf8)
    old = codes_mod._SPARE_BITS
    codes_mod._SPARE_BITS = 64 if table else 0
    try:
        codes, reps = codes_mod._hash_sort_codes(_strings.string_views(s), 4)
    finally:
        codes_mod._SPARE_BITS = old
    want_codes, want_rows = _first_rows(values)
    marked = codes < 0  # sorted: a code's first row is marked -1 - code
    assert table or (np.flatnonzero(marked) == want_rows).all()
    np.testing.assert_array_equal(np.where(marked, -1 - codes, codes), want_codes)
    np.testing.assert_array_equal(reps, want_rows)


def _check_prefix_codes(values: list[str], got) -> None:
    """``sorted_prefix_codes``' result against plain Python: each distinct string's first
    row in ascending order, and every row's place among them."""
    codes, rows, rank = got
    uniq = sorted(set(values))  # code-point order: UTF-8 byte order
    first = {}
    for i, v in enumerate(values):
        first.setdefault(v, i)
    assert rows.tolist() == [first[u] for u in uniq]
    places = codes if rank is None else rank[codes]
    assert [uniq[p] for p in places] == values


_HEADS = st.lists(st.binary(min_size=24, max_size=32).map(bytes.hex), min_size=1, max_size=4)


@given(_HEADS, st.lists(_TEXT, min_size=1, max_size=6), st.data())
def test_sorted_prefix_codes_match_python(heads, tails, data):
    # ids made of a few long heads (beyond the prefix key's bits) and tails: many distinct
    # ids share their first bytes' key, and are split and ordered among their group's
    import recurct._codes as codes_mod

    pool = [h + t for h in heads for t in tails] + data.draw(st.lists(_TEXT | _HEX, max_size=8))
    values = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=120))
    got = codes_mod.sorted_prefix_codes(pl.Series(values, dtype=pl.Utf8))
    if got is not None:  # (None: more ties than it handles; the caller hashes instead)
        _check_prefix_codes(values, got)


@pytest.mark.parametrize("threads", [1, 2])
def test_sorted_prefix_codes_ties_and_refusals(monkeypatch, threads):
    import recurct._codes as codes_mod

    monkeypatch.setattr(par, "_GRAIN", 1 if threads == 2 else 10**9)
    rng = np.random.default_rng(5)
    pool = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(400)]
    # ids sharing the first 40 hex digits (more than the key holds) with another, in groups
    pool += [pool[i][:40] + tail for i in (3, 3, 7, 9) for tail in ("0" * 24, "f" * 24)]
    pool += ["", "a", pool[5][:20]]  # ended within the key's positions
    values = [pool[i] for i in rng.integers(0, len(pool), 2000)]  # tied rows: under 64
    s = pl.Series(values)
    split = []
    real = codes_mod._tie_rank
    monkeypatch.setattr(codes_mod, "_tie_rank", lambda *a: split.append(1) or real(*a))
    got = codes_mod.sorted_prefix_codes(s)
    assert got is not None and got[2] is not None and split  # the ties were split and ranked
    _check_prefix_codes(values, got)
    unique = [*pool[:400], "", "a"]
    got = codes_mod.sorted_prefix_codes(pl.Series(unique))  # no ties: codes in order, no rank
    assert got is not None and got[2] is None
    _check_prefix_codes(unique, got)
    # refused: a byte the sample lacks (one row of 10^4 the sample skips; without it, not
    # refused); more rows tied with another id than max(64, N/4096)
    many = [pool[i] for i in rng.integers(0, 400, 10_000)]
    assert codes_mod.sorted_prefix_codes(pl.Series(many)) is not None
    many[1] = "é" + many[1][1:]  # the sample takes every second row or fewer: not row 1
    assert codes_mod.sorted_prefix_codes(pl.Series(many)) is None
    monkeypatch.undo()
    many = [head[:40] + f"{i:024x}" for head in pool[:10] for i in range(10)]  # 90 tied
    assert codes_mod.sorted_prefix_codes(pl.Series(many)) is None


@given(st.lists(st.integers(0, 6), min_size=1, max_size=60), st.booleans())
def test_run_codes_match_naive(hashes, threads):
    # codes of sorted (hash bits, row) keys, numbered in key order in one part or five (a
    # run of equal bits across a split moves it, past the next one too), first rows marked
    import recurct._codes as codes_mod

    row_bits = max(1, (len(hashes) - 1).bit_length())
    keys = np.sort(np.array([(h << row_bits) | r for r, h in enumerate(hashes)], np.int64))
    parts = 5 if threads else 1  # whatever numba's thread count (some parts empty)
    old = k.row_ranges
    k.row_ranges = lambda m: [(m * q // parts, m * (q + 1) // parts) for q in range(parts)]
    try:
        codes, reps = codes_mod.run_codes(keys, row_bits)
    finally:
        k.row_ranges = old
    distinct = sorted(set(hashes))
    first = [hashes.index(h) for h in distinct]
    want = [distinct.index(h) for h in hashes]
    want = [-1 - c if r == first[c] else c for r, c in enumerate(want)]
    assert codes.tolist() == want and reps.tolist() == first
