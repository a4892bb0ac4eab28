"""Settings from environment variables, read once into one object (documented in README)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected on/off, got {value!r}")


@dataclass(frozen=True)
class Settings:
    store_url: str = field(default_factory=lambda: f"chdb://{REPO_ROOT / 'var' / 'store'}")
    redis_url: str | None = None
    data_dir: Path = field(default_factory=lambda: (REPO_ROOT.parent / "shared" / "data"))
    log_level: str = "INFO"
    secret_key: str = "dev-only-change-me"
    scheduler: bool = True
    demo: bool = True

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        base = cls()
        data_dir = env.get("C254_DATA_DIR")
        return cls(
            store_url=env.get("C254_STORE") or base.store_url,
            redis_url=env.get("C254_REDIS_URL") or None,
            data_dir=Path(data_dir).resolve() if data_dir else base.data_dir.resolve(),
            log_level=(env.get("C254_LOG_LEVEL") or base.log_level).upper(),
            secret_key=env.get("C254_SECRET_KEY") or base.secret_key,
            scheduler=_flag(env.get("C254_SCHEDULER"), base.scheduler),
            demo=_flag(env.get("C254_DEMO"), base.demo),
        )
