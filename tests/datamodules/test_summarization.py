"""`Summarization`: MLSum languages mixed with CNN/DailyMail, the paper's prefix, and a kept language mix."""

from collections import Counter
from pathlib import Path

import datasets
import yaml

from ftscale.datamodules import Summarization
from tests.datamodules.conftest import DATA, as_examples, read_jsonl, split_files

TASK = Path(__file__).resolve().parents[2] / "configs" / "tasks" / "mlsum_cnndm.yaml"
LOCAL = {**{code: split_files(f"mlsum/{code}") for code in ("de", "es", "fr")}, "en": split_files("cnn_dailymail")}


def test_each_source_keeps_its_language_and_fields():
    data = Summarization("unused-tokenizer", data_files=LOCAL)
    test = as_examples(data.examples("test"))
    assert [e.language for e in test] == ["de"] * 2 + ["es"] * 2 + ["fr"] * 2 + ["en"] * 2
    spanish = read_jsonl(DATA / "mlsum" / "es" / "test.jsonl")[1]
    assert (test[3].source, test[3].target) == (spanish["text"], spanish["summary"])
    english = read_jsonl(DATA / "cnn_dailymail" / "test.jsonl")[0]
    assert (test[6].source, test[6].target) == (english["article"], english["highlights"])
    assert data.render_source(test[3]) == f"Summarize the following document in Spanish:\n{spanish['text']}\n"
    assert data.render_source(test[6]).startswith("Summarize the following document in English:\n")


def test_every_train_size_keeps_the_language_mix_within_one_example(tmp_path):
    # An uneven mix: English has a third of the documents of German and of Spanish.
    english = (DATA / "cnn_dailymail" / "train.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "en.jsonl").write_text("".join(english[:2]), encoding="utf-8")
    files = {"de": split_files("mlsum/de"), "es": split_files("mlsum/es")}
    files["en"] = {**split_files("cnn_dailymail"), "train": str(tmp_path / "en.jsonl")}
    languages = ["de", "en", "es"]
    whole = Summarization("unused-tokenizer", languages=languages, data_files=files)
    train = as_examples(whole.examples("train"))
    shares = Counter(e.language for e in train)
    assert shares == {"de": 6, "es": 6, "en": 2}
    for size in range(1, len(train) + 1):
        data = Summarization("unused-tokenizer", languages=languages, data_files=files, train_size=size)
        picked = Counter(train[i].language for i in data.train_indices())
        assert all(abs(picked[code] - size * shares[code] / len(train)) < 1 for code in languages), size


def test_task_config_reads_mlsum_and_cnn_dailymail(monkeypatch):
    calls = []

    def load_dataset(path, config_name, split):  # the hub, without the network: rows of the fixtures
        calls.append((path, config_name, split))
        folder = DATA / "cnn_dailymail" if path == "cnn_dailymail" else DATA / "mlsum" / config_name
        return datasets.Dataset.from_list(read_jsonl(folder / f"{split}.jsonl"))

    monkeypatch.setattr("ftscale.datamodules.sources.hub.load_dataset", load_dataset)
    data = Summarization("unused-tokenizer", **yaml.safe_load(TASK.read_text())["init_args"])
    assert Counter(e.language for e in as_examples(data.examples("validation"))) == {"de": 2, "es": 2, "fr": 2, "en": 2}
    assert calls == [
        ("mlsum", "de", "validation"),
        ("mlsum", "es", "validation"),
        ("mlsum", "fr", "validation"),
        ("cnn_dailymail", "3.0.0", "validation"),
    ]
