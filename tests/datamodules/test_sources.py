"""Readers of local files and Hugging Face datasets, and the catalogue of errors for bad data.

Every bad file fails at data loading (`setup`), before any training step, in one message that names the
file, the line or row, the field and what is expected.
"""

import json
import os
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ftscale.datamodules import Summarization, Translation
from ftscale.datamodules.sources import read_file, read_hub, read_text_pair, text_pairs
from ftscale.errors import InputError, MissingFileError
from tests.datamodules.conftest import DATA, read_jsonl, split_files, write_hub_dataset, write_records


def wmt_line(en: str, de: str) -> str:
    return json.dumps({"translation": {"en": en, "de": de}}, ensure_ascii=False) + "\n"


GOOD = wmt_line("Good morning.", "Guten Morgen.")
LATIN1 = '{"translation": {"en": "café", "de": "Café"}}\n'.encode("latin-1")  # é is 0xe9, not UTF-8


def whole(blocks) -> pa.Table:
    """The blocks a reader or check gives, as one table."""
    return pa.concat_tables(list(blocks))


def test_records_keep_their_file_and_line(tmp_path):
    jsonl = read_file(DATA / "wmt_en_de" / "test.jsonl")
    rows = read_jsonl(DATA / "wmt_en_de" / "test.jsonl")
    assert jsonl.origin(2) == f"{DATA / 'wmt_en_de' / 'test.jsonl'} line 3"
    pairs = whole(text_pairs(jsonl, "translation.en", "translation.de"))
    assert pairs.column("target").to_pylist() == [r["translation"]["de"] for r in rows]
    tsv = whole(text_pairs(read_file(DATA / "tsv_en_de" / "test.tsv"), "source", "target"))
    assert tsv.to_pylist() == pairs.to_pylist()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    parquet = read_file(tmp_path / "t.parquet")
    assert whole(parquet.blocks()).to_pylist() == rows and parquet.origin(0).endswith("t.parquet row 1")
    pair = read_text_pair(DATA / "text_en_fr" / "test.en", DATA / "text_en_fr" / "test.fr")
    assert pair.origin(4).endswith("test.fr line 5")
    assert whole(pair.blocks()).column("source")[4].as_py() == rows[4]["translation"]["en"]


def test_blank_lines_of_jsonl_keep_line_numbers(tmp_path):
    (tmp_path / "a.jsonl").write_text("\n" + GOOD + "\n\n" + GOOD + "\n")
    located = read_file(tmp_path / "a.jsonl")
    assert len(whole(located.blocks())) == 2
    assert [located.origin(row) for row in (0, 1)] == [f"{tmp_path / 'a.jsonl'} line {n}" for n in (2, 5)]


def test_hub_reader_loads_a_local_dataset_directory(wmt_hub_dir):
    located = read_hub(str(wmt_hub_dir), "de-en", "validation[:40%]")
    expected = read_jsonl(DATA / "wmt_en_de" / "validation.jsonl")[:2]
    assert whole(located.blocks()).to_pylist() == expected
    assert located.origin(1) == f"{wmt_hub_dir} (de-en) split validation[:40%] row 2"


def translation_with_train(tmp_path, name: str, content: bytes | str, **kwargs) -> Translation:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    files = {**split_files("wmt_en_de"), "train": str(path)}
    return Translation("unused-tokenizer", data_files=files, **kwargs)


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "message"),
    [
        ("train.jsonl", GOOD + '{"translation": {"en": "Hi", "de": }\n', {}, r"train\.jsonl line 2: malformed JSON"),
        ("train.jsonl", GOOD + '["a list"]\n', {}, r"train\.jsonl line 2: a JSON list; expected one JSON object"),
        (
            "train.jsonl",
            GOOD * 2 + '{"text": "Hi"}\n',
            {},
            r"line 3: missing field 'translation\.en'; the record "
            r"has fields text",
        ),
        (
            "train.jsonl",
            GOOD + wmt_line("Thanks.", " "),
            {},
            r"line 2: field 'translation\.de' is empty; expected "
            r"non-empty text",
        ),
        (
            "train.jsonl",
            GOOD,
            {"target_lang": "fr"},
            r"line 1: field 'translation' has no language 'fr' \(it has "
            r"de, en\)",
        ),
        (
            "train.tsv",
            "Hello\tHallo\nYes\tJa\nNo\tNein\textra\n",
            {},
            r"train\.tsv line 3: 3 tab-separated column\(s\); "
            r"expected 2 \(source<TAB>target\)",
        ),
        ("train.tsv", "Hello\tHallo\n\tJa\n", {}, r"train\.tsv line 2: field 'source' is empty"),
        ("train.jsonl", "", {}, r"train\.jsonl: the file is empty; expected one JSON object per line"),
        (
            "train.jsonl",
            GOOD.encode() + LATIN1,
            {},
            rf"train\.jsonl line 2: invalid UTF-8 byte 0xe9 at byte offset {len(GOOD.encode()) + LATIN1.index(0xE9)} "
            rf"of the file \({LATIN1.index(0xE9)} of the line\); expected UTF-8 text",
        ),
        (
            "train.jsonl",
            GOOD * 20,
            {"train_size": 21},
            r"data\.train_size=21 is larger than the training split "
            r"\(20 examples\)",
        ),
        (
            "train.jsonl",
            GOOD + '{"translation": {"en": 5, "de": "Fünf."}}\n',
            {},
            r"train\.jsonl line 2: field 'translation\.en' is int; expected a string",
        ),
        (
            "train.jsonl",
            GOOD + '{"translation": "Hi"}\n',
            {},
            r"train\.jsonl line 2: field 'translation' is str; expected an object",
        ),
        (
            "train.jsonl",
            GOOD + "\n\n" + '{"text": "Hi"}\n',
            {},
            r"train\.jsonl line 4: missing field 'translation\.en'",
        ),
        ("train.jsonl", "\n\n", {}, r"train\.jsonl: the file is empty"),
        ("train.tsv", "Hello\tHallo\nYes\n", {}, r"train\.tsv line 2: 1 tab-separated column\(s\); expected 2"),
        ("train.tsv", "", {}, r"train\.tsv: the file is empty; expected lines of source<TAB>target"),
        (
            "train.tsv",
            b"Hello\tHallo\nCaf\xe9\tCaf\xe9\n",
            {},
            r"train\.tsv line 2: invalid UTF-8 byte 0xe9 at byte offset 15 of the file \(3 of the line\)",
        ),
        (
            "train.csv",
            GOOD,
            {},
            r"train\.csv': expected a \.jsonl, \.parquet, \.arrow or \.tsv file, or the prefix of aligned text "
            r"files .*train\.csv\.en and .*train\.csv\.de \(missing\)",
        ),
    ],
)
def test_bad_translation_file_fails_at_setup_naming_where(tmp_path, name, content, kwargs, message):
    data = translation_with_train(tmp_path, name, content, **kwargs)  # building it reads nothing
    with pytest.raises(InputError, match=message) as error:
        data.setup("fit")
    assert str(tmp_path / name) in str(error.value) or "train_size" in str(error.value)
    assert "\n" not in str(error.value)


def test_empty_sides_can_be_dropped_with_a_warning(tmp_path):
    data = translation_with_train(tmp_path, "train.jsonl", GOOD + wmt_line("Thanks.", "") + GOOD, drop_empty=True)
    with pytest.warns(UserWarning, match=r"dropped 1 examples .*train\.jsonl line 2"):
        assert len(data.examples("train")) == 2


def test_dropping_is_warned_again_from_the_cache(tmp_path):
    content = GOOD + wmt_line(" ", "Danke.") + GOOD + wmt_line("Yes.", "\t")
    for _ in range(2):  # the second datamodule maps the stored split: the count comes from its metadata
        data = translation_with_train(tmp_path, "train.jsonl", content, drop_empty=True)
        with pytest.warns(UserWarning, match=r"dropped 2 examples .*train\.jsonl line 2"):
            assert data.examples("train")["target"] == ["Guten Morgen."] * 2


def test_bad_parquet_and_text_pair_rows_are_named(tmp_path):
    pq.write_table(
        pa.Table.from_pylist(
            [{"translation": {"en": "Hi.", "de": "Hallo."}, "text": None}, {"translation": None, "text": "x"}]
        ),
        tmp_path / "t.parquet",
    )
    data = Translation(
        "unused-tokenizer", data_files={**split_files("wmt_en_de"), "train": str(tmp_path / "t.parquet")}
    )
    with pytest.raises(
        ValueError, match=r"t\.parquet row 2: missing field 'translation\.en'; the record has fields text"
    ):
        data.setup("fit")
    (tmp_path / "p.en").write_text("One.\nTwo.\n")
    (tmp_path / "p.fr").write_text("Un.\n \n")
    data = Translation(
        "unused-tokenizer", target_lang="fr", data_files={**split_files("text_en_fr", ""), "train": str(tmp_path / "p")}
    )
    with pytest.raises(ValueError, match=r"p\.en / .*p\.fr line 2: field 'target' is empty; expected non-empty text"):
        data.setup("fit")


KIND = {".parquet": "Parquet", ".arrow": "Arrow"}


@pytest.mark.parametrize("suffix", sorted(KIND))
def test_records_of_an_arrow_or_parquet_file_keep_their_row(tmp_path, suffix):
    rows = read_jsonl(DATA / "wmt_en_de" / "test.jsonl")
    located = read_file(write_records(tmp_path / f"t{suffix}", rows))
    assert whole(located.blocks()).to_pylist() == rows and located.origin(2) == f"{tmp_path / f't{suffix}'} row 3"


@pytest.mark.parametrize("suffix", sorted(KIND))
def test_a_corrupt_parquet_or_arrow_file_among_a_tasks_files_is_named(tmp_path, suffix):
    rows = read_jsonl(DATA / "wmt_en_de" / "train.jsonl")
    train = write_records(tmp_path / f"train{suffix}", rows)
    corrupt = tmp_path / f"validation{suffix}"
    corrupt.write_bytes(os.urandom(4096))
    data = Translation(
        "unused-tokenizer", data_files={**split_files("wmt_en_de"), "train": str(train), "validation": str(corrupt)}
    )
    assert len(data.examples("train")) == len(rows)  # the task's other files read
    message = rf"^{re.escape(str(corrupt))}: not a readable {KIND[suffix]} file \("
    with pytest.raises(InputError, match=message) as error:
        data.examples("validation")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("suffix", sorted(KIND))
def test_a_corrupt_shard_of_a_local_hub_dataset_is_named(tmp_path, hf_cache, suffix):
    rows = read_jsonl(DATA / "wmt_en_de" / "validation.jsonl")
    root = write_hub_dataset(tmp_path / "wmt", "de-en", {"validation": rows})
    (root / "de-en" / "validation-00000-of-00001.parquet").unlink()
    shards = [root / "de-en" / f"validation-0000{i}-of-00003{suffix}" for i in range(3)]
    for shard in shards[::2]:
        write_records(shard, rows)
    shards[1].write_bytes(os.urandom(4096))
    readme = (root / "README.md").read_text().replace("validation-*.parquet", f"validation-*{suffix}")
    (root / "README.md").write_text(readme)
    with pytest.raises(InputError, match=rf"^{re.escape(str(shards[1]))}: not a readable {KIND[suffix]} file \("):
        read_hub(str(root), "de-en", "validation")


def test_a_type_change_past_the_first_block_names_its_line(tmp_path):
    # `datasets` reads JSON lines in blocks of about 10 MB: a field that changes type in a later block fails
    # the builder, and the line-by-line scan names where.
    long = wmt_line("x" * 600, "y" * 600)
    lines = 12 * 2**20 // len(long)
    content = long * lines + '{"translation": "Hi."}\n'
    data = translation_with_train(tmp_path, "train.jsonl", content)
    message = rf"train\.jsonl line {lines + 1}: field 'translation' is str but dict on line 1; expected the same type"
    with pytest.raises(ValueError, match=message):
        data.setup("fit")


def test_a_bad_row_in_a_later_block_names_its_line(tmp_path):
    # Checked a block at a time: the row's number within its block plus the rows of the blocks before it.
    long = wmt_line("x" * 600, "y" * 600)
    lines = 12 * 2**20 // len(long)
    data = translation_with_train(tmp_path, "train.jsonl", long * lines + wmt_line("Thanks.", " ") + long)
    with pytest.raises(ValueError, match=rf"train\.jsonl line {lines + 1}: field 'translation\.de' is empty"):
        data.setup("fit")


def test_misaligned_text_pair_names_both_counts(tmp_path):
    (tmp_path / "train.en").write_text("One.\nTwo.\nThree.\n")
    (tmp_path / "train.fr").write_text("Un.\nDeux.\n")
    files = {**split_files("text_en_fr", ""), "train": str(tmp_path / "train")}
    data = Translation("unused-tokenizer", target_lang="fr", data_files=files)
    with pytest.raises(ValueError, match=r"train\.en has 3 lines but .*train\.fr has 2"):
        data.setup("fit")


def test_missing_file_is_named(tmp_path):
    data = Translation("unused-tokenizer", data_files={**split_files("wmt_en_de"), "test": str(tmp_path / "no.jsonl")})
    with pytest.raises(MissingFileError, match=re.escape(f"data file '{tmp_path / 'no.jsonl'}' does not exist")):
        data.setup("test")


def test_missing_split_and_summary_field_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"data\.data_files has no 'test' file \(it has train, validation\)"):
        files = split_files("wmt_en_de")
        del files["test"]
        Translation("unused-tokenizer", data_files=files).setup("test")
    (tmp_path / "test.jsonl").write_text('{"text": "Ein Text.", "title": "Titel"}\n')
    files = {"de": {**split_files("mlsum/de"), "test": str(tmp_path / "test.jsonl")}}
    with pytest.raises(ValueError, match=r"test\.jsonl line 1: missing field 'summary'; the record has fields text, "):
        Summarization("unused-tokenizer", languages=["de"], data_files=files).setup("test")


def test_requested_summarization_language_without_files_is_named():
    data = Summarization("unused-tokenizer", languages=["de", "es"], data_files={"de": split_files("mlsum/de")})
    with pytest.raises(ValueError, match=r"data\.data_files has no files for language 'es' of data\.languages"):
        data.setup("test")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of data.dataset"),
        ({"dataset": "wmt14", "data_files": {"train": "x.jsonl"}}, "exactly one of data.dataset"),
        ({"dataset": "wmt14", "splits": {"dev": "validation"}}, r"data\.splits has keys"),
        ({"dataset": "wmt14", "target_lang": "en"}, "two different codes"),
    ],
)
def test_bad_translation_arguments_fail_in_init(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Translation("unused-tokenizer", **kwargs)
