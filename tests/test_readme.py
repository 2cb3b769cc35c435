"""The README's configuration table says what config/settings.py really reads and defaults to."""

import ast
import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_READERS = {"str", "int", "bool", "float", "list", "db", "email_url"}


def settings_variables() -> dict[str, object]:
    """Every environment variable config/settings.py reads, with its default when that is a
    literal (None when it is computed or there is none)."""
    tree = ast.parse((BASE_DIR / "config" / "settings.py").read_text())
    found: dict[str, object] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "env"
            and node.func.attr in ENV_READERS
        ):
            name = ast.literal_eval(node.args[0])
            default = next((k.value for k in node.keywords if k.arg == "default"), None)
            try:
                value = ast.literal_eval(default) if default is not None else None
            except ValueError:
                value = None  # computed: the README describes it in words
            found.setdefault(name, value)
    return found


def readme_table() -> dict[str, str]:
    text = (BASE_DIR / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `([A-Z_]+)` \| (.*?) \|", section, flags=re.MULTILINE))


def shown(value: object) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return f"`{','.join(value)}`" if value else "empty"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def test_the_readme_lists_exactly_the_variables_the_settings_read():
    assert set(readme_table()) == set(settings_variables())


def test_the_readme_defaults_are_the_settings_defaults():
    table = readme_table()
    for name, default in settings_variables().items():
        if default is None or default == "":
            continue  # computed, required, or unset: described in words
        said = table[name]
        assert said.startswith(shown(default)), f"{name}: README says {said}, settings say {shown(default)}"
