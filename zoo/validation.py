"""Checks of settings that Hydra's types accept but that make no sense; each failure is one line (ZooError)."""
from zoo.errors import ZooError


def require_positive(group: str, cfg, *names: str) -> None:
    """Sizes that make no sense at zero or below (None means unset)."""
    for name in names:
        value = getattr(cfg, name)
        if value is not None and value <= 0:
            raise ZooError(f"{group}.{name} must be > 0, got {value}")


def require_fractions(group: str, cfg, *names: str) -> None:
    """Shares of a dataset (e.g. validation and test) that must each be in (0, 1) and leave some to train on."""
    for name in names:
        if not 0 < getattr(cfg, name) < 1:
            raise ZooError(f"{group}.{name} must be in (0, 1), got {getattr(cfg, name)}")
    if sum(getattr(cfg, name) for name in names) >= 1:
        raise ZooError(f"{group}.{' + '.join(names)} must be below 1, leaving examples to train on")
