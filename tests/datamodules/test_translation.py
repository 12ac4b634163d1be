"""`Translation`: every local format and the Hugging Face path give the same examples, in either direction."""

import csv
import json
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from ftscale.cli.main import main
from ftscale.datamodules import Translation
from ftscale.datamodules.world import Example
from tests.datamodules.conftest import DATA, SPLITS, as_examples, read_jsonl, split_files

TASKS = Path(__file__).resolve().parents[2] / "configs" / "tasks"


def wmt_examples(split: str, source: str = "en", target: str = "de", folder: str = "wmt_en_de") -> list[Example]:
    rows = read_jsonl(DATA / folder / f"{split}.jsonl")
    return [Example(r["translation"][source], r["translation"][target], target) for r in rows]


def parquet_files(tmp_path) -> dict[str, str]:
    for split in SPLITS:
        pq.write_table(
            pa.Table.from_pylist(read_jsonl(DATA / "wmt_en_de" / f"{split}.jsonl")), tmp_path / f"{split}.parquet"
        )
    return {split: str(tmp_path / f"{split}.parquet") for split in SPLITS}


def test_every_format_reads_the_same_pairs(tmp_path, wmt_hub_dir):
    sources = {
        "jsonl": {"data_files": split_files("wmt_en_de")},
        "tsv": {"data_files": split_files("tsv_en_de", ".tsv")},
        "parquet": {"data_files": parquet_files(tmp_path)},
        "hub": {"dataset": str(wmt_hub_dir), "dataset_config": "de-en"},
    }
    for name, source in sources.items():
        data = Translation("unused-tokenizer", **source)
        for split in SPLITS:
            assert as_examples(data.examples(split)) == wmt_examples(split), (name, split)


def test_direction_and_languages_come_from_the_config():
    reverse = Translation("unused-tokenizer", source_lang="de", target_lang="en", data_files=split_files("wmt_en_de"))
    assert as_examples(reverse.examples("test")) == wmt_examples("test", "de", "en")
    assert reverse.render_source(as_examples(reverse.examples("test"))[0]).startswith(
        "Translate from German to English:\n"
    )
    chinese = Translation("unused-tokenizer", target_lang="zh", data_files=split_files("wmt_en_zh"))
    example = as_examples(chinese.examples("validation"))[0]
    assert example == wmt_examples("validation", "en", "zh", "wmt_en_zh")[0] and example.language == "zh"
    assert chinese.render_source(example) == f"Translate from English to Chinese:\n{example.source}\n"
    pair = Translation("unused-tokenizer", target_lang="fr", data_files=split_files("text_en_fr", ""))
    lines = (DATA / "text_en_fr" / "train.fr").read_text(encoding="utf-8").splitlines()
    assert [e.target for e in as_examples(pair.examples("train"))] == lines
    rare = Translation("unused-tokenizer", source_lang="en", target_lang="xh", data_files=split_files("wmt_en_de"))
    assert rare.render_source(Example("Hi.", "", "xh")) == "Translate from English to xh:\nHi.\n"  # unknown: the code


@pytest.mark.parametrize(
    ("config", "name", "pair", "test_split"),
    [
        ("wmt14_en_de", "wmt14", "de-en", "test"),
        ("wmt19_en_zh", "wmt19", "zh-en", "validation[50%:]"),
    ],
)
def test_task_configs_load_the_paper_datasets(config, name, pair, test_split, monkeypatch):
    calls = []

    def load_dataset(path, config_name, split):  # the hub, without the network: rows of the fixture
        calls.append((path, config_name, split))
        target = pair.split("-")[0]
        rows = read_jsonl(DATA / f"wmt_en_{target}" / "test.jsonl")
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr("ftscale.datamodules.sources.hub.load_dataset", load_dataset)
    init_args = yaml.safe_load((TASKS / f"{config}.yaml").read_text())["init_args"]
    data = Translation("unused-tokenizer", **init_args)
    assert (
        len(as_examples(data.examples("test"))) == 5
        and as_examples(data.examples("test"))[0].language == pair.split("-")[0]
    )
    assert calls == [(name, pair, test_split)]


def test_hub_split_can_be_a_slice(wmt_hub_dir):
    data = Translation(
        "unused-tokenizer", dataset=str(wmt_hub_dir), dataset_config="de-en", splits={"test": "validation[60%:]"}
    )
    assert as_examples(data.examples("test")) == wmt_examples("validation")[3:]


def test_bad_file_ends_ftscale_fit_in_one_error_line(tmp_path, make_backbone, capsys, in_repo):
    bad = tmp_path / "train.jsonl"
    bad.write_text('{"translation": {"en": "Hello.", "de": "Hallo."}}\n{"translation": {"en": "Hi."}}\n')
    config = tmp_path / "data.yaml"
    files = {**split_files("wmt_en_de"), "train": str(bad)}
    config.write_text(
        yaml.safe_dump({"class_path": "ftscale.datamodules.Translation", "init_args": {"data_files": files}})
    )
    backbone = make_backbone("xs")
    capsys.readouterr()  # only what the command prints
    code = main(
        [
            "fit",
            "--config",
            "configs/quickstart.yaml",
            "--data",
            str(config),
            "--model.backbone",
            str(backbone),
            "--trainer.default_root_dir",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert (
        err == f"error: {bad} line 2: field 'translation' has no language 'de' (it has en); expected both "
        "languages of the pair\n"
    )


def fit_args(backbone: Path, root: Path) -> list[str]:
    return [
        "--model.class_path",
        "ftscale.lightning_modules.LoRA",
        "--model.backbone",
        str(backbone),
        "--data.train_size",
        "8",
        "--data.batch_size",
        "4",
        "--data.eval_batch_size",
        "8",
        "--trainer.max_steps",
        "10",
        "--trainer.default_root_dir",
        str(root),
        "--trainer.logger",
        "lightning.pytorch.loggers.CSVLogger",
        "--trainer.logger.save_dir",
        str(root),
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
    ]


def logged_metrics(root: Path) -> dict[str, float]:
    """The last value of each metric in the run's CSV logs."""
    values = {}
    for row in csv.DictReader((next(root.rglob("metrics.csv"))).open()):
        values.update({k: float(v) for k, v in row.items() if v})
    return values


@pytest.mark.slow
@pytest.mark.parametrize("source", ["wmt_en_zh", "tsv_en_de", "text_en_fr", "hub_parquet", "mlsum_cnndm"])
def test_fit_on_real_task_files_reports_loss_and_generation_metrics(source, make_backbone, tmp_path, wmt_hub_dir):
    data = {
        "wmt_en_zh": {"target_lang": "zh", "data_files": split_files("wmt_en_zh")},
        "tsv_en_de": {"data_files": split_files("tsv_en_de", ".tsv")},
        "text_en_fr": {"target_lang": "fr", "data_files": split_files("text_en_fr", "")},
        "hub_parquet": {"dataset": str(wmt_hub_dir), "dataset_config": "de-en"},
        "mlsum_cnndm": {
            "data_files": {
                **{code: split_files(f"mlsum/{code}") for code in ("de", "es", "fr")},
                "en": split_files("cnn_dailymail"),
            }
        },
    }[source]
    class_path = "ftscale.datamodules.Summarization" if source == "mlsum_cnndm" else "ftscale.datamodules.Translation"
    config = tmp_path / "data.yaml"
    config.write_text(yaml.safe_dump({"class_path": class_path, "init_args": data}, allow_unicode=True))
    root = tmp_path / "run"
    assert main(["fit", "--data", str(config), *fit_args(make_backbone("xs"), root)]) == 0
    metrics = logged_metrics(root)
    assert 0 < metrics["test/loss"] < 20  # finite, and no worse than a wild guess over the 1024-token vocabulary
    assert metrics["data/train_truncated_source"] == 0 and metrics["data/test_truncated_target"] == 0
    # Generation metrics of the test split (a random-init model scores near 0, but every metric is there).
    generations = [json.loads(line) for line in next(root.rglob("generations.jsonl")).read_text().splitlines()]
    languages = {g["language"] for g in generations}
    assert generations and all(g["reference"] for g in generations)
    for name in ("bleu", "chrf", "rouge1", "rouge2", "rougeL"):
        assert 0 <= metrics[f"test/{name}"] <= 100
        if len(languages) > 1:  # the multilingual summarisation mix is also scored per language
            assert all(0 <= metrics[f"test/{code}/{name}"] <= 100 for code in languages)
