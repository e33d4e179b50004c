"""transcript.jsonl read/write and SRT import."""

import pytest

from echo_ihg.data.transcript import load_transcript_file, read_srt, read_transcript, write_transcript
from echo_ihg.errors import InputError


def test_jsonl_round_trip_sorted_with_extra_keys(tmp_path):
    entries = [{"speaker": "B", "start": 2, "end": 2.5, "text": "ok"},
               {"speaker": "A", "start": 0.5, "end": 1.0, "text": "héllo", "conf": 0.9}]
    write_transcript(tmp_path / "t.jsonl", entries)
    back = read_transcript(tmp_path / "t.jsonl")
    assert [e["text"] for e in back] == ["héllo", "ok"] and back[0]["conf"] == 0.9
    assert isinstance(back[1]["start"], float)


@pytest.mark.parametrize("line,problem", [
    ('{"speaker": "A", "start": 0, "end": 1}', "missing key"),
    ('{"speaker": "C", "start": 0, "end": 1, "text": ""}', "speaker"),
    ('{"speaker": "A", "start": 2, "end": 1, "text": ""}', "start <= end"),
    ('{"speaker": "A", "start": "x", "end": 1, "text": ""}', "numbers"),
    ('[1, 2]', "object"),
    ('{oops', "not valid JSON"),
])
def test_jsonl_errors_name_file_and_line(tmp_path, line, problem):
    path = tmp_path / "t.jsonl"
    path.write_text('{"speaker": "A", "start": 0, "end": 1, "text": "fine"}\n\n' + line + "\n")
    with pytest.raises(InputError, match=problem) as err:
        read_transcript(path)
    assert err.value.path == path and "line 3" in str(err.value)


def test_srt_speaker_tags_and_times(tmp_path):
    path = tmp_path / "t.srt"
    path.write_text("\ufeff1\r\n00:00:01,500 --> 00:00:02,250\r\nA: Hello\r\nthere\r\n\r\n"
                    "2\n00:00:03.000 --> 00:00:04,000 X1:0\n[B] yes\n\n"
                    "3\n01:00:00,000 --> 01:00:01,000\n<v A>bye\n\n4\n00:00:05,000 --> 00:00:06,000\nSpeaker B - ok\n")
    e = read_srt(path)
    assert [(x["speaker"], x["start"], x["end"], x["text"]) for x in e] == [
        ("A", 1.5, 2.25, "Hello there"), ("B", 3.0, 4.0, "yes"), ("B", 5.0, 6.0, "ok"), ("A", 3600.0, 3601.0, "bye")]
    assert load_transcript_file(path) == e


def test_srt_errors(tmp_path):
    path = tmp_path / "t.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\nno speaker here\n")
    with pytest.raises(InputError, match="block 1: no speaker tag") as err:
        read_srt(path)
    assert err.value.path == path
    assert read_srt(path, default_speaker="B")[0]["speaker"] == "B"
    path.write_text("1\n00:00:01 --> 00:00:02,000\nA: x\n")
    with pytest.raises(InputError, match="bad time stamp"):
        read_srt(path)
    path.write_text("1\nA: no times\n")
    with pytest.raises(InputError, match="no 'start --> end'"):
        read_srt(path)
    with pytest.raises(InputError, match="not found"):
        load_transcript_file(tmp_path / "missing.srt")
    with pytest.raises(InputError, match="unknown transcript format"):
        load_transcript_file(tmp_path / "t.txt")
