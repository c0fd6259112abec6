"""Settings as typed, frozen dataclasses, changed by name from a command line: `--set NAME=VALUE ...`, the one
way every trainer and judge here takes settings it has no flag for (`train.att3d`, `train.dreamfusion`,
`train.pil`, `train.pil_dataset`, the DreamFusion judges)."""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass, replace


def with_overrides(config, assignments: list[str]):
    """`config` (a dataclass) with "name=value" assignments applied, e.g. "tv_weight=0.1",
    "voxel.blob_radius=0.3" (nested configs at any depth), "detach_normals=false", "guidance_scale=null".
    Values are read as JSON, else taken as text."""
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        if not sep:
            raise ValueError(f"expected name=value, got {assignment!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        config = _with_setting(config, name, value, name)
    return config


def _with_setting(config, name: str, value: object, full_name: str):
    part, _, inner = name.partition(".")
    allowed = {f.name for f in fields(config)}
    if part not in allowed or (inner and not is_dataclass(getattr(config, part))):
        raise ValueError(f"unknown setting {full_name!r}; settings here are: {', '.join(sorted(allowed))}")
    if inner:
        value = _with_setting(getattr(config, part), inner, value, full_name)
    try:
        return replace(config, **{part: value})
    except TypeError as error:
        raise ValueError(f"{full_name}: {error}") from None


def changed_settings(config, defaults) -> list[str]:
    """The "name=value" assignments that make `defaults` into `config` (both dataclasses of one type; nested
    configs by dotted name): `with_overrides(defaults, changed_settings(config, defaults)) == config`. A
    card's recipe names with them exactly the settings a run changed."""
    changed = []
    for f in fields(config):
        value, default = getattr(config, f.name), getattr(defaults, f.name)
        if is_dataclass(value) and is_dataclass(default):
            changed += [f"{f.name}.{inner}" for inner in changed_settings(value, default)]
        elif value != default:
            changed.append(f"{f.name}={json.dumps(list(value) if isinstance(value, tuple) else value)}")
    return changed
