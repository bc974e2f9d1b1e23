#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks HTTP answers against an OpenAPI 3.0 document.

Usage: check_openapi.py OPENAPI.json ANSWERS.tsv

ANSWERS.tsv has one answer per line: method, URL, status, Content-Type and
body, tab-separated, with the body's newlines written as \\x01.  Each answer
must be documented: its path and method (HEAD as GET), its status, its media
type, and a JSON body must satisfy the schema (the subset of JSON Schema the
document uses: type, enum, required, properties, additionalProperties,
items, minItems, maxItems, minimum, maximum, minLength, maxLength, oneOf,
$ref).  An unknown path, or a method a path does not have, must answer
the Error schema.  Standard library only.
"""
import json
import sys
from urllib.parse import urlsplit


def resolve(doc, schema):
    while '$ref' in schema:
        node = doc
        for part in schema['$ref'].lstrip('#/').split('/'):
            node = node[part]
        schema = node
    return schema


def type_ok(value, t):
    if t == 'object':
        return isinstance(value, dict)
    if t == 'array':
        return isinstance(value, list)
    if t == 'string':
        return isinstance(value, str)
    if t == 'integer':
        return isinstance(value, int) and not isinstance(value, bool)
    if t == 'number':
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == 'boolean':
        return isinstance(value, bool)
    raise ValueError('unsupported type ' + t)


def validate(doc, schema, value, where):
    """Returns a list of problems."""
    schema = resolve(doc, schema)
    if 'oneOf' in schema:
        matches = [s for s in schema['oneOf'] if not validate(doc, s, value, where)]
        return [] if len(matches) == 1 else ['%s: matches %d of oneOf' % (where, len(matches))]
    problems = []
    if 'type' in schema and not type_ok(value, schema['type']):
        return ['%s: %r is not %s' % (where, value, schema['type'])]
    if 'enum' in schema and value not in schema['enum']:
        problems.append('%s: %r not in %r' % (where, value, schema['enum']))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 'minimum' in schema and value < schema['minimum']:
            problems.append('%s: %r < %r' % (where, value, schema['minimum']))
        if 'maximum' in schema and value > schema['maximum']:
            problems.append('%s: %r > %r' % (where, value, schema['maximum']))
    if isinstance(value, str):
        if len(value) < schema.get('minLength', 0):
            problems.append('%s: shorter than %d' % (where, schema['minLength']))
        if 'maxLength' in schema and len(value) > schema['maxLength']:
            problems.append('%s: longer than %d' % (where, schema['maxLength']))
    if isinstance(value, dict):
        props = schema.get('properties', {})
        for key in schema.get('required', []):
            if key not in value:
                problems.append('%s: missing %r' % (where, key))
        for key, v in value.items():
            if key in props:
                problems += validate(doc, props[key], v, where + '.' + key)
            elif schema.get('additionalProperties', True) is False:
                problems.append('%s: unexpected %r' % (where, key))
    if isinstance(value, list):
        if len(value) < schema.get('minItems', 0):
            problems.append('%s: fewer than %d items' % (where, schema['minItems']))
        if 'maxItems' in schema and len(value) > schema['maxItems']:
            problems.append('%s: more than %d items' % (where, schema['maxItems']))
        if 'items' in schema:
            for i, v in enumerate(value):
                problems += validate(doc, schema['items'], v, '%s[%d]' % (where, i))
    return problems


def path_item(doc, path):
    """The path item of path: an exact one, else a templated one whose
    prefix before its one parameter ("/users/{username}") the path extends
    by at least one character, as the bridge's router matches it."""
    if path in doc['paths']:
        return doc['paths'][path]
    for key, item in doc['paths'].items():
        if '{' in key and key.endswith('}'):
            prefix = key[:key.index('{')]
            if path.startswith(prefix) and len(path) > len(prefix):
                return item
    return None


def check(doc, method, url, status, ctype, body):
    path = urlsplit(url).path
    media = ctype.split(';')[0].strip()
    where = '%s %s %s' % (method, path, status)
    if status in ('000', '414', '431'):
        # No answer, or libmicrohttpd's own answer to a request it could not
        # read into a connection's memory: no route saw it.
        return []
    item = path_item(doc, path)
    if item is None:
        response = doc['components']['responses']['Error']
    else:
        op = item.get('get' if method == 'HEAD' else method.lower())
        if op is None and status != '405':
            return ['%s: method not documented' % where]
        if op is None:
            # A method the path does not have: 405 with the Error schema.
            response = doc['components']['responses']['Error']
        else:
            response = op['responses'].get(status) or op['responses'].get('default')
        if response is None:
            return ['%s: status not documented' % where]
    response = resolve(doc, response)
    content = response.get('content', {})
    if media not in content:
        return ['%s: media type %r not documented' % (where, media)]
    schema = content[media].get('schema', {})
    if method == 'HEAD':
        return []
    if media == 'application/json':
        try:
            value = json.loads(body)
        except ValueError as e:
            return ['%s: body is not JSON: %s' % (where, e)]
        return validate(doc, schema, value, where)
    return validate(doc, schema, body, where)


def main():
    with open(sys.argv[1], encoding='utf-8') as f:
        doc = json.load(f)
    problems = []
    count = 0
    with open(sys.argv[2], encoding='utf-8', newline='\n') as f:
        for line in f:
            method, url, status, ctype, body = line.rstrip('\n').split('\t', 4)
            problems += check(doc, method, url, status, ctype, body.replace('\x01', '\n'))
            count += 1
    for p in problems:
        print('openapi: ' + p, file=sys.stderr)
    print('openapi: %d answers checked, %d problems' % (count, len(problems)))
    return 1 if problems or count == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
