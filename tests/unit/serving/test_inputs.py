"""Input rules: one reading of JSON values for every path, many rows or few."""
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import Unprocessable
from modelyard.serving.inputs import BadValues, check_rows, column_values, numbers

VALUES = [1, 2.5, None, "3.5", " 4 ", True, False, "1,234", "", "nan"]
READ = [1.0, 2.5, math.nan, 3.5, 4.0, 1.0, 0.0, 1234.0, math.nan, math.nan]


def same(a, b):
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b)) and len(a) == len(b)


@pytest.mark.parametrize("copies", [1, 5])  # 10 rows take numpy's fast path, then fall back on "1,234"
def test_numbers_read_the_same_however_many_rows(copies):
    rows = [{"x": v} for v in VALUES * copies]
    bad = BadValues()
    assert same(column_values(rows, "x", "number", bad), READ * copies)
    assert bad.count == 0


def test_many_clean_numbers_take_the_fast_path_with_the_same_result():
    rows = [{"x": v} for v in [1, 2.5, None, "3.5", True] * 4]
    assert same(column_values(rows, "x", "integer", BadValues()), [1.0, 2.5, math.nan, 3.5, 1.0] * 4)


def test_bad_values_are_named_by_column_and_one_based_row():
    rows = [{"x": 1}] * 11 + [{"x": "forty"}, {"x": [1]}]
    bad = BadValues()
    column_values(rows, "x", "integer", bad)
    with pytest.raises(Unprocessable) as refused:
        bad.raise_if_any()
    assert refused.value.message.startswith("column 'x' expects an integer, got 'forty' (row 12 of the data)")
    assert "2 bad value(s)" in refused.value.message


def test_missing_columns_and_too_many_rows_are_refused_and_extra_columns_reported():
    signature = [{"name": "a", "type": "number"}, {"name": "b", "type": "string"}]
    assert check_rows([{"a": 1, "b": "x", "c": 0}], signature, max_rows=5) == ["c"]
    with pytest.raises(Unprocessable, match="missing column"):
        check_rows([{"a": 1}], signature, max_rows=5)
    with pytest.raises(Unprocessable, match="at most 5 rows"):
        check_rows([{"a": 1, "b": "x"}] * 6, signature, max_rows=5)


def test_csv_text_numbers_drop_thousands_separators_and_junk_becomes_missing():
    import pandas as pd

    got = numbers(pd.Series(["1", "1,234.5", "n/a", None, " 7 "], dtype=object)).tolist()
    assert same(got, [1.0, 1234.5, math.nan, math.nan, 7.0])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(["1", "-2.5", "1e3", "1,234", " 7 ", "n/a", "", "inf", "nan",
                                                       "0x10", "+4", ".5", "1e400", "١٢"]),
                          st.floats(allow_nan=False).map(repr), st.integers().map(str), st.text(max_size=4)),
                min_size=1, max_size=30))
def test_the_arrow_number_parser_agrees_with_the_general_one(cells):
    text = pd.Series(cells, dtype="str")  # what a CSV chunk read as text holds (Arrow-backed)
    general = numbers(pd.Series(cells, dtype=object))
    fast = numbers(text)
    assert fast.dtype == "float64"
    finite = lambda s: s.where(np.isfinite(s))  # the encoder treats ±inf as missing, as it does NaN
    pd.testing.assert_series_equal(finite(fast), finite(general), check_names=False)
