"""CSV sniffing, reading and profiling: pure functions, no database."""
from __future__ import annotations

import json
import time

import pytest

from modelyard.data.csvio import SAMPLE_BYTES, CsvDialect, iter_frames, profile, read_frame, sniff
from modelyard.errors import InvalidFormat

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")


def load(data: bytes):
    """What the upload does: sniff the first bytes, read the whole file, profile it."""
    dialect = sniff(data[:SAMPLE_BYTES])
    frame = read_frame(data, dialect)
    return dialect, frame, profile(frame)


def column(summary: dict, name: str) -> dict:
    return next(c for c in summary["column_profiles"] if c["name"] == name)


def rows_of(*lines: str) -> str:
    return "\n".join(lines) + "\n"


# Dialects ---------------------------------------------------------------


def test_utf8_bom_is_detected_and_stripped_from_the_first_header():
    dialect, frame, _ = load("\ufeffage,city\n31,Köln\n".encode("utf-8"))
    assert dialect == CsvDialect("utf-8-sig", ",") and dialect.has_bom
    assert list(frame.columns) == ["age", "city"]
    assert frame["city"].iloc[0] == "Köln"


def test_latin1_file_with_accented_names_is_decoded():
    data = "prénom;ville;âge\nJosé;Zürich;31\nFrançoise;Besançon;45\n".encode("latin-1")
    dialect, frame, _ = load(data)
    assert dialect.encoding in ("cp1252", "latin-1") and dialect.delimiter == ";"
    assert list(frame.columns) == ["prénom", "ville", "âge"]
    assert frame["prénom"].tolist() == ["José", "Françoise"]


def test_cp1252_euro_sign_survives():
    _, frame, _ = load("item,price\nbook,12 €\n".encode("cp1252"))
    assert frame["price"].iloc[0] == "12 €"


def test_file_that_stops_being_utf8_after_the_sample_is_read_as_latin1_when_told():
    head = "name,city\n" + "Ann,Oslo\n" * (SAMPLE_BYTES // 9)
    data = (head + "Zoë,Besançon\n").encode("latin-1")
    assert sniff(data[:SAMPLE_BYTES]).encoding == "utf-8"  # the sample alone is plain ASCII
    dialect = sniff(data[:SAMPLE_BYTES], utf8=False)
    assert dialect.encoding == "cp1252"
    assert read_frame(data, dialect)["name"].iloc[-1] == "Zoë"


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_delimiter_is_detected(delimiter):
    data = delimiter.join(["a", "b", "c"]) + "\n" + delimiter.join(["1", "\"x, y\"", "3.5"]) + "\n"
    dialect, frame, _ = load(data.encode())
    assert dialect.delimiter == delimiter
    assert list(frame.columns) == ["a", "b", "c"] and frame["b"].iloc[0] == "x, y"


def test_semicolon_file_with_decimal_commas_is_not_mistaken_for_commas():
    data = b"name;price;qty\nfoo;1,5;2\nbar;2,25;3\nbaz;3,0;4\n"
    assert sniff(data).delimiter == ";"


def test_quoted_fields_with_delimiters_and_newlines_are_one_value():
    data = b'id,comment,score\n1,"fine, thanks",3\n2,"two\nlines, and a comma",4\n3,"say ""hi""",5\n'
    dialect, frame, summary = load(data)
    assert dialect.delimiter == ","
    assert frame["comment"].tolist() == ["fine, thanks", "two\nlines, and a comma", 'say "hi"']
    assert not any("wrong number of fields" in w for w in summary["warnings"])


def test_quoted_newlines_in_a_large_file_are_read_past_the_first_block():
    rows = [f'{i},"line one\nline two, with comma",{i * 2}' for i in range(200_000)]
    data = ("id,text,n\n" + "\n".join(rows) + "\n").encode()
    assert len(data) > 8 * 1024 * 1024
    frame = read_frame(data, sniff(data[:SAMPLE_BYTES]))
    assert frame.shape == (200_000, 3)
    assert frame["n"].iloc[-1] == 399_998


def test_crlf_line_ends_are_fine():
    dialect, frame, _ = load(b"a,b\r\n1,x\r\n2,y\r\n")
    assert frame["b"].tolist() == ["x", "y"]
    assert frame["a"].tolist() == [1, 2]


def test_sample_cut_in_the_middle_of_a_record_still_sniffs():
    data = ("a;b;c\n" + "1;2;3\n" * 20_000).encode()
    assert sniff(data[: SAMPLE_BYTES - 3]).delimiter == ";"


def test_plain_single_column_csv_with_a_header_is_valid():
    dialect, frame, summary = load(b"review\nI liked it, a lot\nbad\nok\n")
    assert frame["review"].tolist() == ["I liked it, a lot", "bad", "ok"]
    assert summary["columns"] == 1


# Refusals ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data, says",
    [
        (b"", "empty"),
        (b"\n\n\r\n", "empty"),
        (b"age,income\n", "no data rows"),
        (PNG, "PNG"),
        (b"\x00\x01\x02\x03garbage\x00\x00", "binary"),
        (bytes(range(1, 9)) * 100, "binary"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP"),
        ("age,city\n".encode("utf-16"), "UTF-16"),
        (b"1,2,3\n4,5,6\n", "File must be CSV format with headers"),
        (b"42\n43\n", "File must be CSV format with headers"),
        (b',,\n1,2,3\n', "File must be CSV format with headers"),
        (b'{"age": 31, "city": "Oslo"}\n', "JSON"),
        (b"<html><body><table></table></body></html>\n", "HTML"),
        (b"age income\n31 50000\n45 72000\n", "space-separated"),
    ],
)
def test_what_is_not_a_csv_with_a_header_is_refused_with_a_reason(data, says):
    with pytest.raises(InvalidFormat) as refused:
        load(data)
    assert says.lower() in refused.value.message.lower()
    assert refused.value.code == "INVALID_FORMAT" and refused.value.status == 400


def test_file_whose_every_row_is_ragged_is_refused():
    with pytest.raises(InvalidFormat, match="no data rows"):
        read_frame(b"a,b,c\n1,2\n3,4,5,6\n", CsvDialect("utf-8", ","))


# Profile and warnings -----------------------------------------------------


def test_ragged_rows_are_skipped_and_reported_with_row_numbers():
    lines = ["a,b,c"] + [f"{i},{i},{i}" for i in range(20)]
    lines[4] = "3,3"
    lines[9] = "8,8,8,8"
    _, frame, summary = load(rows_of(*lines).encode())
    assert len(frame) == 18
    message = next(w for w in summary["warnings"] if "wrong number of fields" in w)
    assert message.startswith("2 row(s)") and "rows 5, 10" in message


def test_numeric_column_with_junk_is_reported_with_its_bad_cell_count():
    values = [str(i) for i in range(30)] + ["abc", "?", "12kg"]
    data = "weight,label\n" + "".join(f"{v},{i % 2}\n" for i, v in enumerate(values))
    _, _, summary = load(data.encode())
    message = next(w for w in summary["warnings"] if "'weight'" in w)
    assert "3 non-numeric" in message
    assert column(summary, "weight")["type"] == "string"


def test_all_null_constant_and_duplicated_rows_are_warned_about():
    lines = ["a,empty,same,b"] + [f"{i},,k,{i % 3}" for i in range(12)] + ["0,,k,0", "1,,k,1"]
    _, _, summary = load(rows_of(*lines).encode())
    warnings = " | ".join(summary["warnings"])
    assert "no values at all: 'empty'" in warnings
    assert "single value: 'same'" in warnings
    assert "2 duplicated row(s)" in warnings and summary["duplicated_rows"] == 2
    assert column(summary, "empty")["missing_pct"] == 100.0
    assert column(summary, "same")["constant"] is True


def test_one_row_file_is_valid_with_a_warning():
    _, frame, summary = load(b"age,income\n31,50000\n")
    assert len(frame) == 1 and summary["rows"] == 1
    assert any("only 1 data row" in w for w in summary["warnings"])


def test_clean_file_has_no_warnings():
    lines = ["age,income,city"] + [f"{20 + i},{1000 * (i % 7)},c{i % 4}" for i in range(15)]
    _, _, summary = load(rows_of(*lines).encode())
    assert summary["warnings"] == []


def test_ten_thousand_columns_are_profiled_quickly_with_a_width_warning():
    header = ",".join(f"c{i}" for i in range(10_000))
    body = "\n".join(",".join(str(i * j) for i in range(10_000)) for j in range(1, 6))
    start = time.perf_counter()
    _, _, summary = load(f"{header}\n{body}\n".encode())
    assert time.perf_counter() - start < 10
    assert summary["columns"] == 10_000 and len(summary["column_profiles"]) == 10_000
    assert any("very wide" in w and "10000 columns" in w for w in summary["warnings"])


def test_column_types_and_examples():
    data = (
        "n,x,flag,when,word,maybe\n"
        "1,1.5,true,2024-01-02,apple,3\n"
        "2,2.5,false,2024-01-03,pear,\n"
        "3,,true,2024-01-04,fig,5\n"
    )
    _, _, summary = load(data.encode())
    types = {c["name"]: c["type"] for c in summary["column_profiles"]}
    assert types == {"n": "integer", "x": "number", "flag": "boolean", "when": "datetime", "word": "string",
                     "maybe": "integer"}
    assert column(summary, "when")["examples"] == ["2024-01-02", "2024-01-03", "2024-01-04"]
    assert column(summary, "x")["missing"] == 1 and column(summary, "x")["unique"] == 2


def test_dates_written_with_slashes_are_datetime():
    _, _, summary = load(b"day,v\n01/02/2024,1\n02/02/2024,2\n")
    assert column(summary, "day")["type"] == "datetime"


def test_profile_is_plain_json():
    _, _, summary = load(b"a,b,c\n1,2.5,2024-01-01\n2,,2024-01-02\n")
    assert json.loads(json.dumps(summary)) == summary


def test_repeated_and_blank_headers_are_renamed_with_a_warning():
    _, frame, summary = load(b"a,a,,b\n1,2,3,4\n")
    assert list(frame.columns) == ["a", "a.1", "Unnamed: 2", "b"]
    assert any("renamed" in w for w in summary["warnings"])


# Target and id columns ------------------------------------------------------


def test_column_named_like_a_target_is_the_likely_target():
    _, _, summary = load(b"churn,age,plan\n1,31,basic\n0,45,pro\n")
    assert summary["likely_target"] == "churn"


def test_last_column_is_the_likely_target_unless_it_is_an_id():
    _, _, summary = load(b"age,income,will_it\n31,5,a\n45,6,b\n")
    assert summary["likely_target"] == "will_it"
    _, _, summary = load(b"age,income,customer_id\n31,5,a1\n45,6,b2\n")
    assert summary["likely_target"] == "income"
    assert summary["likely_id_columns"] == ["customer_id"]


def test_dense_increasing_integers_are_an_id_but_a_sorted_measure_is_not():
    lines = ["row,income,age"] + [f"{i},{1000 * i},{20 + i * 3}" for i in range(1, 13)]
    _, _, summary = load(rows_of(*lines).encode())
    assert summary["likely_id_columns"] == ["row"]
    assert summary["likely_target"] == "age"


def test_words_ending_in_id_are_not_ids():
    _, _, summary = load(b"valid,paid,userId\nx,1,u1\ny,2,u2\n")
    assert summary["likely_id_columns"] == ["userId"]


# Partial and chunked reads --------------------------------------------------


def test_read_frame_can_stop_after_n_rows():
    data = ("a,b\n" + "".join(f"{i},{i}\n" for i in range(1000))).encode()
    frame = read_frame(data, CsvDialect("utf-8", ","), nrows=10)
    assert len(frame) == 10 and frame["a"].tolist() == list(range(10))


def test_iter_frames_yields_chunks_of_n_rows():
    data = ("\ufeffa;b\n" + "".join(f"{i};x{i}\n" for i in range(25))).encode("utf-8")
    chunks = list(iter_frames(data, sniff(data), chunk_rows=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert list(chunks[0].columns) == ["a", "b"] and chunks[-1]["b"].iloc[-1] == "x24"


def test_read_frame_reads_chunks_and_paths(tmp_path):
    data = b"a,b\n1,2\n3,4\n"
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    dialect = CsvDialect("utf-8", ",")
    assert read_frame(iter([data[:5], data[5:]]), dialect).equals(read_frame(path, dialect))
