"""Reading a page's ids and the ids its labels and descriptions point at (tests import this)."""

from html.parser import HTMLParser


class IdsAndReferences(HTMLParser):
    """Every id in a page, and every id its aria-describedby / aria-labelledby / label-for name."""

    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.references: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.append(attributes["id"])
        for name in ("aria-describedby", "aria-labelledby", "for"):
            self.references.extend((attributes.get(name) or "").split())
