"""How every weighted object here saves and loads: as a Hub repo folder (`config.json` +
`model.safetensors`) through huggingface_hub's `PyTorchModelHubMixin`, the same way for a field, an
ATT3D model and PIL's VAE and aligner: `obj.save_pretrained(folder)`, `Class.from_pretrained(source)`.

`config.json` holds the object's `model_type` (its key in `hub.registry`, which loads any saved object
from its folder alone), its constructor's other arguments (a field's `num_objects`) and its config's
fields. Weights are safetensors; nothing is ever unpickled.
"""

from __future__ import annotations

from dataclasses import asdict, fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from huggingface_hub import PyTorchModelHubMixin
from pydantic import TypeAdapter

C = TypeVar("C")
REPO_URL = "https://github.com/amortized-3d/amortized-3d"


class HubModel(PyTorchModelHubMixin, library_name="amortized-3d", repo_url=REPO_URL):
    """The mixin of every weighted object (beside `nn.Module`). Subclasses set `model_type` and call
    `record_config` at the end of `__init__`."""

    model_type: ClassVar[str]

    def record_config(self, config: Any, **arguments: Any) -> None:
        """What `save_pretrained` writes to config.json: the model type, `arguments` and `config`'s fields."""
        self._hub_mixin_config = {"model_type": self.model_type, **arguments, **asdict(config)}

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path, *, strict: bool = True, **options: Any) -> Any:
        """The mixin's `from_pretrained`, strict by default: a file whose tensors do not match the model's
        is an error, never a partly loaded model."""
        return super().from_pretrained(pretrained_model_name_or_path, strict=strict, **options)

    def save_pretrained(self, save_directory: str | Path, **options: Any) -> Any:
        if getattr(self, "num_objects", 1) is None:
            raise ValueError(f"only a {type(self).__name__} that owns its weights can be saved; bind() results are not")
        return super().save_pretrained(save_directory, **options)


def config_from(config_class: type[C], value: C | dict) -> C:
    """`value` as a `config_class`: as it is, or built from a dict read back from JSON, nested configs
    and tuples included, by pydantic (keys that are not its fields, such as `model_type` and
    `num_objects`, are left out). A wrong value raises a ValueError that names the field."""
    if is_dataclass(value):
        return value  # type: ignore[return-value]
    names = {item.name for item in fields(config_class)}  # type: ignore[arg-type]
    return _adapter(config_class).validate_python({key: item for key, item in value.items() if key in names})


@cache
def _adapter(config_class: type) -> TypeAdapter:
    return TypeAdapter(config_class)
