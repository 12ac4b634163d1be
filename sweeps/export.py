"""`ftscale export`: a finetuned checkpoint as a directory `from_pretrained` loads."""

from jsonargparse import ArgumentParser

from ftscale.lightning_modules import load_method


def main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="ftscale export",
        description="Write a checkpoint of `ftscale fit` as a Hugging Face model (FMT) or peft adapter (PET) "
        "directory, with its tokenizer: load it with AutoModelForCausalLM / PeftModel.from_pretrained.",
    )
    parser.add_argument("checkpoint", help="A .ckpt written by `ftscale fit`.")
    parser.add_argument("out_dir", help="Directory to write.")
    args = parser.parse_args(argv)
    module = load_method(args.checkpoint, map_location="cpu")
    print(f"wrote {module.export(args.out_dir)}")
    return 0
