"""The three classification tasks: class names (alphabetical, as the seed had them) and aliases."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Task:
    """A binary task: p > threshold means class_names[1]."""

    name: str
    class_names: tuple[str, str]
    aliases: dict[str, str]
    threshold: float = 0.5

    def label_of(self, folder: str) -> str | None:
        """Canonical class of a folder name (case and separators ignored), or None."""
        key = folder.lower().replace("-", "").replace("_", "").replace(" ", "")
        return self.aliases.get(key)


_MASK = {
    "withmask": "WithMask",
    "mask": "WithMask",
    "masked": "WithMask",
    "withoutmask": "WithoutMask",
    "nomask": "WithoutMask",
    "unmasked": "WithoutMask",
}
_GENDER = {
    "female": "Female",
    "woman": "Female",
    "women": "Female",
    "male": "Male",
    "man": "Male",
    "men": "Male",
}

TASKS = {
    "mask": Task("mask", ("WithMask", "WithoutMask"), _MASK),
    "gender_masked": Task("gender_masked", ("Female", "Male"), _GENDER),
    "gender_unmasked": Task("gender_unmasked", ("Female", "Male"), _GENDER),
}

SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
