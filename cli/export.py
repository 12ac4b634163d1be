"""`ftscale export`: a finetuned checkpoint as a directory `from_pretrained` loads."""

from ftscale.cli.parsing import parser
from ftscale.lightning_modules import load_method


def main(argv: list[str]) -> int:
    command = parser(
        "ftscale export",
        "Write a checkpoint of `ftscale fit` as a Hugging Face model (FMT) or peft adapter (PET) directory, with "
        "its tokenizer: load it with AutoModelForCausalLM / PeftModel.from_pretrained.",
    )
    command.add_argument("checkpoint", help="a .ckpt written by `ftscale fit` (e.g. .../checkpoints/best.ckpt)")
    command.add_argument("out_dir", help="directory to write")
    args = command.parse_args(argv)
    module = load_method(args.checkpoint, map_location="cpu")
    print(f"wrote {module.export(args.out_dir)}")
    return 0
