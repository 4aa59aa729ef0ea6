"""Where the project's files are: relative paths in configs resolve against the project root."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"


def resolve_path(path: str | Path) -> Path:
    """An existing path as given (absolute or from the cwd), else under the project root."""
    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return PROJECT_ROOT / path
