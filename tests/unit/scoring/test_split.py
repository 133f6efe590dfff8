"""Splitting a CSV into parts at record boundaries: every part parses to whole records, none lost."""
import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.scoring.tasks import record_boundaries

CELLS = st.sampled_from(["x", "plain", "", "1,2", 'say "hi"', "two\nlines", "crlf\r\nline", '"', "é"])


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(CELLS, min_size=3, max_size=3), max_size=60),
       terminator=st.sampled_from(["\n", "\r\n"]), block=st.integers(1, 70), every=st.integers(1, 150))
def test_parts_hold_every_record_once_and_whole(rows, terminator, block, every):
    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerows([["a", "b", "c"], *rows])
    data = out.getvalue().encode()
    header_end, cuts = record_boundaries((data[i:i + block] for i in range(0, len(data), block)), every)
    edges = [header_end, *[c for c in cuts if c < len(data)], len(data)]
    assert edges == sorted(edges)
    parsed = [record for a, b in zip(edges, edges[1:])
              for record in csv.reader(io.StringIO(data[a:b].decode(), newline=""))]
    assert parsed == rows
    assert list(csv.reader(io.StringIO(data[:header_end].decode(), newline=""))) == [["a", "b", "c"]]
    gaps = [b - a for a, b in zip(edges, edges[1:-1])]
    assert all(gap >= every for gap in gaps)  # parts are at least `every` bytes (the last may be shorter)


def test_a_file_without_a_line_break_is_all_header():
    assert record_boundaries(iter([b"a,b,c"]), 10) == (5, [])
