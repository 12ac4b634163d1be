"""The built-in ladder: tiny Llama shapes, their pretraining on the embedded world, and `ladder:<size>` backbones."""
