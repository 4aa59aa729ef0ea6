"""Settings objects from mappings through OmegaConf's structured configs: the schema's types
and keys are enforced by OmegaConf, the ranges by each class's `__post_init__`."""

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from marl_alloc.floor.errors import ConfigError

T = TypeVar("T")
# Lines of OmegaConf's messages that only repeat where the error is (full_key says it).
_CONTEXT = ("full_key:", "object_type=", "reference_type=")


def one_line(err: Exception, section: str = "") -> str:
    """An OmegaConf or Hydra error as one line naming the key: `KEY: what is wrong`."""
    text = str(err).strip().split("Config search path:")[0]  # Hydra's list of its sources
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # Hydra lists a group's options, our schemas among them: they are not options to pick.
    message = [
        line for line in lines if not line.startswith(_CONTEXT) and not line.endswith("schema")
    ]
    key = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("full_key:")), ""
    )
    key = ".".join(part for part in (section, key) if part)
    text = "; ".join(message) or type(err).__name__
    return f"{key}: {text}" if key and key not in text else text


def from_mapping(schema: type[T], mapping: Any, section: str = "") -> T:
    """`mapping` (a dict, a DictConfig or a schema instance) as a `schema` object: unknown
    keys, wrong types and out-of-range values are one-line ConfigErrors."""
    if isinstance(mapping, schema):
        return mapping
    if mapping is not None and not isinstance(mapping, Mapping | DictConfig):
        raise ConfigError(f"{section or 'config'} must be a mapping, got {mapping!r}")
    try:
        node = OmegaConf.merge(OmegaConf.structured(schema), mapping or {})
        return to_object(node, section)
    except OmegaConfBaseException as err:
        raise ConfigError(one_line(err, section)) from None


def to_object(node: DictConfig, section: str = "") -> Any:
    """A composed structured node as its dataclass objects (each checked in `__post_init__`)."""
    try:
        return OmegaConf.to_object(node)
    except OmegaConfBaseException as err:
        raise ConfigError(one_line(err, section)) from None


def to_plain(settings: Any) -> dict[str, Any]:
    """A settings object as a plain nested dict (lists, not tuples), e.g. to save as YAML."""
    if dataclasses.is_dataclass(settings):
        return OmegaConf.to_container(OmegaConf.structured(settings))
    return OmegaConf.to_container(OmegaConf.create(settings))
