"""Every config key with its default and documentation, read from the dataclasses that define them (a field's
docstring, or its comment): what `run.py train --help` lists and `run.py config` resolves."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import textwrap
import tokenize


def field_docs(cls) -> dict[str, str]:
    """field -> its documentation: the string literal after the field, else its trailing comment, else the
    comment lines right above it. A subclass's own text wins over its bases'."""
    docs: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        lines = source.splitlines()
        comments = {}
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = (tok.start[1], tok.string.lstrip("#").strip())
        body = ast.parse(source).body[0].body
        for i, node in enumerate(body):
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            nxt = body[i + 1] if i + 1 < len(body) else None
            text = ""
            if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                text = nxt.value.value
            elif node.lineno in comments and comments[node.lineno][0] > 0 and lines[node.lineno - 1].lstrip()[0] != "#":
                text = comments[node.lineno][1]
            else:
                above, n = [], node.lineno - 1
                while n in comments and lines[n - 1].lstrip().startswith("#"):
                    above.insert(0, comments[n][1])
                    n -= 1
                text = " ".join(above)
            docs[node.target.id] = " ".join(text.split())
    return docs


def _value(v) -> str:
    return json.dumps(list(v) if isinstance(v, tuple) else v)


def describe(sections: dict[str, type], top_level: dict[str, tuple[object, str]], width: int = 118) -> str:
    """The key listing: top-level keys, then one block per section (`name.field  default  doc`)."""
    rows = [(k, _value(default), doc) for k, (default, doc) in top_level.items()]
    for name, cls in sections.items():
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            rows.append((f"{name}.{f.name}", _value(default), docs.get(f.name, "")))
    key_w = max(len(k) for k, _, _ in rows) + 2
    val_w = 14
    indent = 2 + key_w + val_w
    out = []
    for key, default, doc in rows:
        head = f"  {key:<{key_w}}{default}"
        wrapped = textwrap.wrap(doc, width - indent) if doc else []
        if wrapped and len(default) < val_w:  # the doc starts on the key's line
            head, wrapped = f"{head:<{indent}}{wrapped[0]}", wrapped[1:]
        out.append(head)
        out += [" " * indent + line for line in wrapped]
    return "\n".join(out)
