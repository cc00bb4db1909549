"""A workflow's own settings beyond the common export flags (ilastik's per-workflow headless
flags such as `--table_filename`): declared once, they become flags of the command line, keys
of the gRPC `ExportSettings.options` map and Fiji macro keys, all spelled the same."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

OPTION_KINDS = {"text": str, "path": str, "integer": int, "number": float, "yes/no": bool}


@dataclass(frozen=True)
class WorkflowOption:
    """One setting: the flag `--name`, the options key and macro key `name`."""

    name: str                     # e.g. "table_filename"
    help: str
    kind: str = "text"            # one of OPTION_KINDS
    default: object = None
    choices: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"Unknown option kind {self.kind!r}: use one of {', '.join(OPTION_KINDS)}")

    @property
    def flag(self) -> str:
        return "--" + self.name

    def parse(self, text) -> object:
        """The value of `text` (a string from a flag, a gRPC map or a macro; or a value)."""
        if not isinstance(text, str):
            return text
        kind = OPTION_KINDS[self.kind]
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("", "1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise UserError(f"{self.flag}={text!r} is not a yes/no value. Fix: use true or false.")
        if self.choices and text not in self.choices:
            raise UserError(f"{self.flag}={text!r} is not one of {', '.join(map(repr, self.choices))}. "
                            "Fix: choose one of them.")
        try:
            return kind(text)
        except ValueError:
            raise UserError(f"{self.flag}={text!r} is not {'an' if self.kind == 'integer' else 'a'} "
                            f"{self.kind}. Fix: give e.g. {self.flag}={'3' if kind is int else '0.5'}.") from None


def parse_options(options: tuple[WorkflowOption, ...], given: dict) -> dict[str, object]:
    """The value of every option: the given ones parsed (unknown names refused), the rest at
    their defaults."""
    by_name = {option.name: option for option in options}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        valid = ", ".join(sorted(by_name)) or "none"
        raise UserError(f"Unknown option {unknown[0]!r} for this workflow. Fix: use one of its options ({valid}).")
    return {name: option.parse(given[name]) if name in given else option.default for name, option in by_name.items()}
