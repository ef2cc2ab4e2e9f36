"""Settings that document themselves: a dataclass field whose metadata holds its flag's help text
and choices.

``ModelConfig``, ``Schedule`` and ``TrainConfig`` declare each setting once, as
``field(default=..., metadata=flag(help, choices=...))``; ``tfgvae.training.config`` makes every
field with such metadata a command-line flag of the same name (its type, default, choices and
help), and ``check_choices`` refuses a value outside a field's choices wherever the dataclass is
built. A field without it is not a flag. Nothing here reads flags.
"""
import dataclasses


def flag(help, choices=None, **more):
    """The metadata that makes a dataclass field a flag: its ``help``, its ``choices`` (checked by
    ``check_choices``) and ``more``: ``flag_default`` (the flag's default, where it differs from the
    field's), ``flag_type`` (the flag's type, where the field holds what the flag's value names),
    ``validator`` ((checker, message) of a flag validator)."""
    return dict(help=help, choices=None if choices is None else tuple(choices), **more)


def check_choices(instance):
    """Raise ValueError (one line) if a field with choices holds a value outside them."""
    for field in dataclasses.fields(instance):
        choices = field.metadata.get("choices")
        value = getattr(instance, field.name)
        if choices and value not in choices:
            raise ValueError(f"{field.name} must be one of {', '.join(choices)}, got {value!r}")
