"""Task prompts, shared by the finetuning datamodules and the world's pretraining text (so the tokenizer and
the pretrained models know their words)."""

TRANSLATION = "Translate from {source_language} to {target_language}:\n{source}\n"
# The paper's prefix (Zhang et al. 2024, Sec. 3), followed by the article.
SUMMARIZATION = "Summarize the following document in {language}:\n{document}\n"
