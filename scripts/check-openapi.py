#!/usr/bin/env python3
"""Checks an OpenAPI document: it must validate as OpenAPI (3.1 here), and
every example in it must validate against the schema it illustrates
(component schemas and their properties, request bodies, responses).

    .tools/pyenv/bin/python scripts/check-openapi.py openapi.json

Prints one summary line and exits 0, or prints each problem and exits 1.
"""
import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate


def examples_of(holder):
    """The example values a schema or a media type object carries."""
    found = []
    if "example" in holder:
        found.append(holder["example"])
    examples = holder.get("examples")
    if isinstance(examples, list):  # JSON Schema `examples`
        found.extend(examples)
    elif isinstance(examples, dict):  # OpenAPI Example Objects
        found.extend(e["value"] for e in examples.values() if "value" in e)
    return found


def main(path):
    with open(path) as f:
        document = json.load(f)
    validate(document)
    components = document.get("components", {})
    problems = []
    checked = 0

    def check(schema, example, where):
        nonlocal checked
        checked += 1
        # $refs point into #/components; carry them in the root.
        root = {"allOf": [schema], "components": components}
        validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
        for error in validator.iter_errors(example):
            problems.append(f"{where}: {error.message} (at {list(error.absolute_path)})")

    def walk_schema(schema, where):
        if not isinstance(schema, dict):
            return
        for example in examples_of(schema):
            check(schema, example, where)
        for name, sub in schema.get("properties", {}).items():
            walk_schema(sub, f"{where}.{name}")
        for key in ("items", "additionalProperties"):
            walk_schema(schema.get(key), f"{where}.{key}")
        for key in ("allOf", "oneOf", "anyOf"):
            for i, sub in enumerate(schema.get(key, [])):
                walk_schema(sub, f"{where}.{key}[{i}]")

    for name, schema in components.get("schemas", {}).items():
        walk_schema(schema, f"#/components/schemas/{name}")

    for route, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            bodies = [("requestBody", operation.get("requestBody", {}))]
            bodies += [(f"responses.{status}", r) for status, r in operation["responses"].items()]
            for label, body in bodies:
                for media_type, media in body.get("content", {}).items():
                    where = f"{method.upper()} {route} {label} {media_type}"
                    for example in examples_of(media):
                        check(media.get("schema", {}), example, where)

    if problems:
        print("\n".join(problems))
        return 1
    operations = sum(
        1 for item in document["paths"].values() for key in item if key in
        ("get", "put", "post", "delete", "options", "head", "patch", "trace"))
    print(f"valid OpenAPI {document['openapi']}: {len(document['paths'])} paths, "
          f"{operations} operations; {checked} examples match their schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
