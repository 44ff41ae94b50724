"""Plain text shards (`format: text`): a row per document, paragraph or line, streamed in
blocks that never cut a row; byte order marks, CRLF, blank lines and odd encodings as real
files have them; a bad byte names the shard."""

from __future__ import annotations

import glob
import gzip
import json
from pathlib import Path

import pytest

from laas.anchors.adapters.artifacts import read_manifest
from laas.errors import ConfigError, ShardReadError
from laas.tasks import readers
from laas.tasks.dataset_spec import DatasetSpec, load_spec
from laas.tasks.readers import read_table

DOC = ("\ufeffTitle line\r\n\r\nFirst paragraph,\r\nstill the first.\r\n   \r\n\r\n"
       "    indented code of the second\n\nlast\n")


def spec_of(unit: str | None = "paragraph", fmt: str | None = "text", **layout: object
            ) -> DatasetSpec:
    text = {"unit": unit, **layout} if unit else {}
    return DatasetSpec.model_validate({
        "name": "t", "source": "unused", "format": fmt, "text": text,
        "schema": [{"name": "text", "type": "string", "nullable": False}],
        "suite": {"builtin": "text_corpus"}})


def rows(tmp_path: Path, data: bytes, spec: DatasetSpec, name: str = "t.txt") -> list[str]:
    path = tmp_path / name
    path.write_bytes(data)
    return read_table(str(path), spec).column("text").to_pylist()


def test_paragraphs_lines_and_documents(tmp_path) -> None:
    data = DOC.encode()
    assert rows(tmp_path, data, spec_of("paragraph")) == [
        "Title line", "First paragraph,\nstill the first.", "    indented code of the second",
        "last"]
    assert rows(tmp_path, data, spec_of("line")) == [
        "Title line", "First paragraph,", "still the first.", "    indented code of the second",
        "last"]
    assert rows(tmp_path, data, spec_of("document")) == [DOC.removeprefix("\ufeff")]


@pytest.mark.parametrize("unit", ["paragraph", "line"])
def test_blocks_never_cut_a_row(tmp_path, monkeypatch, unit: str) -> None:
    body = "".join(f"paragraph {i} line one\nand line two {'x' * (i % 50)}\n\n\n"
                   for i in range(300)).encode()
    whole = rows(tmp_path, body, spec_of(unit))
    monkeypatch.setattr(readers, "BLOCK_SIZE", 37)  # far smaller than a paragraph
    assert rows(tmp_path, body, spec_of(unit)) == whole
    assert len(whole) == (300 if unit == "paragraph" else 600)


def test_compressed_and_latin1_files_and_the_format_from_the_name(tmp_path) -> None:
    data = gzip.compress("caf\u00e9\n\nna\u00efve\n".encode("latin-1"))
    assert rows(tmp_path, data, spec_of("paragraph", fmt=None, encoding="latin-1"),
                name="notes.md.gz") == ["caf\u00e9", "na\u00efve"]


def test_a_bad_byte_sets_the_shard_aside_naming_it(tmp_path) -> None:
    with pytest.raises(ShardReadError, match=r"bad\.txt: not well-formed UTF-8.*set "
                                             r"text\.encoding"):
        rows(tmp_path, b"fine\n\n\xff\xfe broken\n", spec_of(), name="bad.txt")


def test_a_latin1_or_semicolon_csv_is_refused_saying_which_setting_to_change(tmp_path) -> None:
    from tests.test_csv_dialects import read
    from tests.test_csv_dialects import spec_of as csv_spec

    with pytest.raises(ShardReadError, match="set csv.encoding"):
        read(tmp_path, "n,word,x\n1,caf\xe9,0.5\n".encode("latin-1"), csv_spec())
    with pytest.raises(ShardReadError, match="check the spec's csv.delimiter"):
        read(tmp_path, b"n;word;x\n1;a;0.5\n", csv_spec())


def test_a_document_too_big_to_read_whole_is_set_aside_saying_what_to_do(tmp_path, monkeypatch
                                                                        ) -> None:
    from laas.tasks import text_reader

    monkeypatch.setattr(text_reader, "MAX_DOCUMENT", 1000)
    with pytest.raises(ShardReadError, match=r"huge\.txt: .*more than 0 MB; read it with "
                                             r"text\.unit paragraph or line"):
        rows(tmp_path, b"x" * 1001, spec_of("document"), name="huge.txt")
    assert rows(tmp_path, b"x" * 600 + b"\n" + b"y" * 600, spec_of("line"),
                name="huge.txt") == ["x" * 600, "y" * 600]  # a big file reads by line


@pytest.mark.parametrize(("unit", "hint"), [("line", ""), ("paragraph", "; read it with "
                                                                       "text.unit line")])
def test_a_line_or_paragraph_too_big_to_hold_is_set_aside(tmp_path, monkeypatch, unit, hint
                                                           ) -> None:
    """A shard with no line break (or no blank line) is one row: held whole until its end, it
    would take a worker's memory (and its paragraph search, rescanning the held bytes for
    each block, its CPU) as a document once did; it is bounded the same way."""
    from laas.tasks import readers, text_reader

    monkeypatch.setattr(text_reader, "MAX_DOCUMENT", 1000)
    monkeypatch.setattr(readers, "BLOCK_SIZE", 256)
    with pytest.raises(ShardReadError, match=rf"long\.txt: .*a {unit} of more than 0 MB{hint}"):
        rows(tmp_path, b"x" * 5000, spec_of(unit), name="long.txt")


def test_a_blank_file_has_no_rows_and_is_set_aside_as_empty(tmp_path) -> None:
    with pytest.raises(ShardReadError, match="empty"):
        rows(tmp_path, b" \n\n\t\n", spec_of("line"))


def test_a_text_spec_is_one_string_column_and_text_only_for_text(tmp_path) -> None:
    bad = tmp_path / "two.yaml"
    bad.write_text("name: two\nsource: a/*\nformat: text\nschema: [{name: a, type: string}, "
                   "{name: b, type: string}]\nsuite: {builtin: text_corpus}\n")
    with pytest.raises(ConfigError, match="one string column"):
        load_spec(str(bad))
    with pytest.raises(ValueError, match="`text:` applies to text shards only"):
        spec_of("line", fmt="csv")


def test_the_text_corpus_suite_screens_its_one_column() -> None:
    suite = spec_of().suite
    assert suite.text_hash_of == ("text",)
    assert {"expect_column_values_to_be_free_of_pii", "expect_column_values_to_be_unique"} <= {
        e.type for e in suite.expectations}


DOCS = sorted(glob.glob("/usr/share/doc/*/copyright"))[:12]


@pytest.mark.skipif(len(DOCS) < 4, reason="no Debian copyright files under /usr/share/doc")
def test_package_documentation_through_laas_run_and_the_gate(workspace) -> None:
    """Real text nobody on the project wrote: Debian copyright files (license boilerplate
    repeated across packages, maintainers' e-mail addresses) as paragraphs, rows dropped
    where they fail, the dataset gated."""
    shards = {f"{i:02d}-{Path(p).parent.name}.txt": Path(p).read_bytes()
              for i, p in enumerate(DOCS)}
    workspace.add_dataset("pkgdocs", shards, format="text", text={"unit": "paragraph"},
                          schema=[{"name": "text", "type": "string", "nullable": False}],
                          suite={"builtin": "text_corpus"}, on_failure="drop_rows",
                          max_dropped_rows=1.0)
    r = workspace.laas("run", "pkgdocs", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    validated = read_manifest(json.loads(r.stdout)["checkpoints"][-1]["manifest_uri"])
    kept = sum(s.rows for s in validated.accepted)
    dropped = sum(sum((s.dropped or {}).values()) for s in validated.accepted)
    assert kept > 0 and validated.accepted
    for s in validated.quarantined:  # a file repeating earlier ones whole has nothing left
        assert s.reason.endswith("no row is left"), s.reason
    if any(b"@" in d for d in shards.values()):
        assert dropped > 0  # the e-mail addresses went, with their paragraphs
    gate = workspace.laas("gate", "pkgdocs")
    assert gate.returncode == 0 and "ALLOW" in gate.stdout, gate.stdout + gate.stderr


def test_utf16_and_utf32_files_read_as_they_are(tmp_path) -> None:
    """Spreadsheets export "Unicode text" as tab-delimited UTF-16 with a byte order mark:
    found by the mark under the default encoding, or named; text files the same."""
    from tests.test_csv_dialects import read
    from tests.test_csv_dialects import spec_of as csv_spec

    table = 'n\tword\tx\r\n1\tcafé ü\t0.5\r\n2\t"q\tq"\t1\r\n'
    want = [{"n": 1, "word": "café ü", "x": 0.5}, {"n": 2, "word": "q\tq", "x": 1.0}]
    for data, encoding in ((table.encode("utf-16"), "utf-8"), (table.encode("utf-32"), "utf-8"),
                           (table.encode("utf-16-be"), "utf-16-be")):
        assert read(tmp_path, data, csv_spec(delimiter="\t", encoding=encoding)) == want
    assert rows(tmp_path, "one\n\ntwö\n".encode("utf-16"), spec_of()) == ["one", "twö"]
    assert rows(tmp_path, "α\nβ\n".encode("utf-16-le"), spec_of("line", encoding="utf-16-le")
                ) == ["α", "β"]


@pytest.mark.parametrize(("codec", "fmt"), [("utf-16-le", "text"), ("utf-16-be", "text"),
                                            ("utf-16-le", "csv"), ("utf-32-le", "text")])
def test_utf16_without_its_byte_order_mark_is_refused_naming_the_setting(tmp_path, codec,
                                                                          fmt) -> None:
    """A UTF-16 file without a mark (chardet's nobom-utf16le.txt, a spreadsheet's export)
    was read as UTF-8 text of which every other byte is NUL, and a text suite passed it
    with a warning: garbage committed as training text. It is refused, naming the setting;
    with the encoding set it reads."""
    from tests.test_csv_dialects import spec_of as csv_spec

    text = "DateTime,Bid,Ask\r\n07/19/2013 00:00:00,1.30,1.31\r\n"
    name = "t.csv" if fmt == "csv" else "t.txt"
    cols = (("DateTime", "string"), ("Bid", "string"), ("Ask", "string"))
    (tmp_path / name).write_bytes(text.encode(codec))

    def spec(**kw: object) -> DatasetSpec:
        return csv_spec(cols, **kw) if fmt == "csv" else spec_of("line", **kw)

    key = "csv.encoding" if fmt == "csv" else "text.encoding"
    with pytest.raises(ShardReadError, match=rf"{name}: .*{codec.upper()}.*{key}: {codec}"):
        read_table(str(tmp_path / name), spec())
    assert read_table(str(tmp_path / name), spec(encoding=codec)).num_rows == (
        1 if fmt == "csv" else 2)
