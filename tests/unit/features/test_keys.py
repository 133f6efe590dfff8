"""The canonical entity key encoding (documented in modelyard.features.models)."""
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from modelyard.features import readers
from tests.support.registry_models import to_csv, to_parquet


@pytest.mark.parametrize("value, text", [
    ("1", "1"), (" 007 ", "007"), (1, "1"), (np.int64(42), "42"), (1.0, "1"), (2.5, "2.5"), (True, "true"),
    (pd.Timestamp("2024-01-01"), "2024-01-01"), (pd.Timestamp("2024-01-01 10:30"), "2024-01-01T10:30:00"),
    (dt.date(2024, 1, 2), "2024-01-02"), ("ÿ-ü", "ÿ-ü"), (None, None), (float("nan"), None), ("  ", None),
])
def test_key_values_become_canonical_text(value, text):
    assert readers.key_text(value) == text


def test_a_key_is_a_compact_json_array_in_key_column_order():
    assert readers.encode_key(["1", "2024-01-01"]) == '["1","2024-01-01"]'
    assert readers.encode_key(['a"b', "c,d"]) == '["a\\"b","c,d"]'


def test_csv_key_columns_are_read_as_written_and_parquet_ones_canonically():
    frame = pd.DataFrame({"zip": ["007", "010"], "day": pd.to_datetime(["2024-01-01", "2024-01-02"]), "x": [1.5, 2]})
    csv_keys = [k for f in readers.frames([to_csv(frame)], "csv", ["zip", "day"])
                for k, _ in readers.keyed_rows(f, ["zip", "day"], 0)]
    assert csv_keys == ['["007","2024-01-01"]', '["010","2024-01-02"]']
    parquet = [(k, v) for f in readers.frames([to_parquet(frame)], "parquet", ["zip", "day"])
               for k, v in readers.keyed_rows(f, ["zip", "day"], 0)]
    assert parquet[0] == ('["007","2024-01-01"]', {"zip": "007", "day": "2024-01-01T00:00:00", "x": 1.5})


def test_an_empty_key_value_is_refused_naming_its_row():
    frame = pd.DataFrame({"id": ["1", None], "x": [1, 2]})
    with pytest.raises(readers.Unprocessable) as error:
        list(readers.keyed_rows(frame, ["id"], 0))
    assert "row 2 of the data" in error.value.message
