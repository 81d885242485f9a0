"""Fails when a CloudFormation/SAM template's resources depend on each other in a cycle.

CloudFormation rejects such a stack only at deploy time, and the SAM validators do not report it
(a function policy that refers to the bucket that triggers it is the classic case).

  check_template.py TEMPLATE...
"""

import re
import sys

import yaml

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from iam_from_template import CfnLoader  # noqa: E402


def references(node, names):
    """Resource names that `node` refers to with Ref, GetAtt, Sub or Condition-free DependsOn."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and value in names:
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else value.split(".")[0]
                if target in names:
                    found.add(target)
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                for ref in re.findall(r"\$\{([^}!.]+)", text):
                    if ref in names:
                        found.add(ref)
                if not isinstance(value, str):
                    found |= references(value[1], names)
            else:
                found |= references(value, names)
    elif isinstance(node, list):
        for item in node:
            found |= references(item, names)
    return found


def cycle(graph):
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def main(paths):
    failed = False
    for path in paths:
        with open(path) as f:
            resources = yaml.load(f, Loader=CfnLoader).get("Resources", {})
        names = set(resources)
        graph = {}
        for name, body in resources.items():
            deps = references(body.get("Properties", {}), names)
            depends_on = body.get("DependsOn", [])
            deps |= set([depends_on] if isinstance(depends_on, str) else depends_on)
            graph[name] = deps
        found = cycle(graph)
        if found:
            print(f"{path}: circular dependency: {' -> '.join(found)}")
            failed = True
        else:
            print(f"{path}: no circular dependencies among {len(graph)} resources")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
